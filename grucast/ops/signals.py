"""SIGTERM and SIGINT during training: a request to stop at the next step, so the run so far
can be saved for --resume.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

# ---------------------------------------------------------------- signals


class StopRequest:
    """Set by SIGINT / SIGTERM while stop_on_signals() is active; the training loop (training.loop) polls it after
    every step, so the run ends at a step boundary with a state it can resume from."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """The first SIGINT or SIGTERM asks the training loop to stop after its current step; a
    second one goes to the handler that was there before (an immediate stop)."""
    import signal

    request = StopRequest()
    names = [signal.SIGINT, signal.SIGTERM]
    try:
        previous = {n: signal.getsignal(n) for n in names}

        def handler(signum, frame):
            if request.signum is None:
                request.signum = signum
            else:
                signal.signal(signum, previous[signum])
                signal.raise_signal(signum)

        for n in names:
            signal.signal(n, handler)
    except ValueError:  # not the main thread: no signal handling, no request ever
        yield request
        return
    try:
        yield request
    finally:
        for n in names:
            signal.signal(n, previous[n])
