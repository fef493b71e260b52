"""What the training display writes: progress on a terminal, plain lines otherwise, nothing when quiet."""

import io
import re

from rich.console import Console

from grucast.cli.render import TrainDisplay
from grucast.training.loop import EvalRecord, FitResult


def drive(display):
    display.on_start(total_steps=4, steps_per_epoch=2, windows_per_epoch=100)
    for step in (1, 2):
        display.on_step(step)
    display.on_eval(EvalRecord(epoch=1.0, step=2, train_loss=0.5, val_loss=0.4, best=True, windows_per_s=1234.0, lr=1e-3))
    display.on_end(FitResult(state_dict={}, history=[], best_step=2, best_val_loss=0.4, steps=2, epochs=1.0,
                             train_seconds=0.1, windows_seen=200, stop_reason="early_stopping"))


def test_plain_lines_when_not_a_terminal():
    buf = io.StringIO()
    drive(TrainDisplay(Console(file=buf, force_terminal=False, width=200)))
    out = buf.getvalue()
    assert "epoch 1 step 2: train loss 0.5000, val loss 0.4000 *, 1,234 windows/s" in out
    assert "Stopped after 2 steps (1 epochs, early stopping)" in out
    assert "\x1b[" not in out


def test_progress_bar_on_a_terminal():
    buf = io.StringIO()
    display = TrainDisplay(Console(file=buf, force_terminal=True, width=200))
    assert display.live
    drive(display)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    assert "epoch 1 step 2: train loss 0.5000, val loss 0.4000 *" in text
    assert "Stopped after 2 steps" in text


def test_quiet_prints_nothing():
    buf = io.StringIO()
    drive(TrainDisplay(Console(file=buf, force_terminal=True), quiet=True))
    assert buf.getvalue() == ""
