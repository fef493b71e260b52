"""The errors grucast shows to its users.

Contract: a :class:`GrucastError` is caused by the user's input or settings, never by a bug. Its
message is displayed to the user as one line (``Error: <message>``) and the process exits with
the error's ``exit_code`` (the table in the README and ``grucast --help``: 1 bad input or
settings, 3 checkpoint, 4 stale data, 5 quality gate, 75 output locked by another run). The message names the file, column, row or setting that is wrong and,
where it can, what to do about it. Anything that is not a GrucastError is a bug and keeps its
traceback.
"""

from __future__ import annotations


class GrucastError(Exception):
    """A problem with the user's data, settings or files; shown as one line, no traceback."""

    exit_code = 1


class ConfigError(GrucastError):
    """A setting is unknown, has the wrong type or is out of range."""


class DataError(GrucastError):
    """An input data file cannot be read or does not make sense as time series."""


class PathError(GrucastError):
    """A run's files clash or cannot be written: an output that is one of its inputs, two
    outputs that are one file, an output that is a link, folder or device, a lock file that is
    not grucast's, a folder that is missing, read-only or full."""


class CheckpointError(GrucastError):
    """A checkpoint file is missing, damaged, foreign, from an incompatible version, or (for
    --resume and --init-from) trained on data of another shape."""

    exit_code = 3


class StaleDataError(GrucastError):
    """The newest observation in the input is older than --max-age allows."""

    exit_code = 4


class QualityGateError(GrucastError):
    """A newly trained model is worse than the baseline --fail-if-worse-than names; the
    previous checkpoint is kept."""

    exit_code = 5


class LockedError(GrucastError):
    """Another grucast run holds the lock of the same output (EX_TEMPFAIL: try again later)."""

    exit_code = 75


class Interrupted(GrucastError):
    """Training stopped by SIGINT or SIGTERM at a step boundary; exits 128 + the signal number
    (130, 143). ``state`` holds what ``train --resume`` needs to go on (see training.loop.LoopState)."""

    def __init__(self, signum: int, step: int, state: dict):
        import signal

        super().__init__(f"{signal.Signals(signum).name} at step {step:,}")
        self.signum, self.step, self.state = signum, step, state
        self.exit_code = 128 + signum


class PeerLost(Interrupted):
    """Training under torchrun stopped because another rank of the job failed, died or stopped
    answering: a collective failed. state holds the run as it stood after the last finished
    step, for train --resume; exits 1."""

    def __init__(self, step: int, state: dict, detail: str):
        GrucastError.__init__(self, f"the loss of another process of the job after step {step:,} ({detail})")
        self.signum, self.step, self.state = None, step, state
        self.exit_code = 1


def preview(items: list[str], n: int = 5) -> str:
    """The first n names, and how many more: how a message lists series, columns or values."""
    shown = ", ".join(str(x) for x in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")
