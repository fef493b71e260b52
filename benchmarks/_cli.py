"""The grucast command line for benchmark scripts, run as the interpreter that imports the
library (`python -m grucast`), so the command and the library always agree."""

from __future__ import annotations

import subprocess
import sys
import time


def grucast(*args: str) -> tuple[str, float]:
    """Run `grucast ARGS`; its stdout and wall time. A failure ends the script with its stderr."""
    cmd = [sys.executable, "-m", "grucast", *args]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return p.stdout, secs


def script(*args: str) -> str:
    """Run `python ARGS` (another benchmark script); its stdout. A failure ends this script."""
    p = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {' '.join(args)}\n{p.stderr[-3000:]}")
    return p.stdout


def lines(out: str, *starts: str) -> str:
    """The lines of out that start with any of starts."""
    return "\n".join(line for line in out.splitlines() if line.startswith(starts))
