"""Progress of a benchmark's training on stderr: one line per network and validation check."""

from __future__ import annotations

import sys

from grucast.training.loop import NullCallback


class Progress(NullCallback):
    """A training callback (grucast.training.loop.Callback) that prints, indented by indent."""

    def __init__(self, indent: str = ""):
        self.indent = indent

    def _say(self, line: str) -> None:
        print(self.indent + line, file=sys.stderr, flush=True)

    def on_note(self, message):
        self._say(message)

    def on_member(self, member, n_members, seed):
        self._say(f"network {member + 1} of {n_members} (seed {seed})")

    def on_start(self, total_steps, steps_per_epoch, windows_per_epoch):
        self._say(f"training: {windows_per_epoch:,} windows per epoch, at most {total_steps} steps")

    def on_eval(self, r):
        self._say(f"  step {r.step} epoch {r.epoch:.2f}: train {r.train_loss:.4f} val {r.val_loss:.4f}"
                  f"{' *' if r.best else ''} {r.windows_per_s:.0f} w/s")
