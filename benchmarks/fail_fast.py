"""How fast a nightly job learns that its input is bad: wall time of whole `grucast` processes
that must fail at once (missing, empty, binary or header-only data, an output that is the
input, a bad config, a damaged checkpoint), beside `grucast --version` (Python and the CLI alone)
and `python -c "import torch"` for reference (what every failure cost before the checks moved in
front of the torch import).

    python benchmarks/fail_fast.py [--repeat 5]

Prints the median seconds of each, and the exit code and Error line it gave. The issue's goal:
a missing or malformed data file fails in under 1 s on 2 cores."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "grucast --version": ["--version"],
    "train: data file missing": ["train", "missing.csv", "-o", "m.pt"],
    "train: data file empty": ["train", "empty.csv", "-o", "m.pt"],
    "train: data file binary (PNG)": ["train", "image.csv", "-o", "m.pt"],
    "train: header only": ["train", "header.csv", "-o", "m.pt"],
    "train: not UTF-8": ["train", "latin1.csv", "-o", "m.pt"],
    "train: -o is the data": ["train", "good.csv", "-o", "good.csv"],
    "train: bad YAML config": ["train", "good.csv", "-o", "m.pt", "--config", "bad.yaml"],
    "predict: checkpoint missing": ["predict", "missing.pt", "good.csv"],
    "predict: checkpoint not a zip": ["predict", "good.csv", "good.csv", "-o", "f.csv"],
    "train: data is a folder": ["train", "folder", "-o", "m.pt"],
}


def files(folder: Path) -> None:
    (folder / "empty.csv").write_bytes(b"")
    (folder / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (folder / "header.csv").write_text("timestamp,value\n")
    (folder / "latin1.csv").write_bytes("timestamp,value\n2024-01-01,caf\xe9\n".encode("latin-1"))
    (folder / "good.csv").write_text("timestamp,value\n" + "".join(f"2024-01-{d:02d},{d}\n" for d in range(1, 29)))
    (folder / "bad.yaml").write_text("model:\n  horizon: [\n")
    (folder / "folder").mkdir()


def run(args: list[str], cwd: Path) -> tuple[float, int, str]:
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "grucast", *args], cwd=cwd, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    line = (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or [""])[-1]
    return seconds, p.returncode, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files(folder)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        label = 'python -c "import torch" (reference)'
        print(f"{label:44s} {time.perf_counter() - start:6.2f} s")
        for name, argv in CASES.items():
            runs = [run(argv, folder) for _ in range(args.repeat)]
            seconds = statistics.median(r[0] for r in runs)
            print(f"{name:44s} {seconds:6.2f} s  exit {runs[0][1]:3d}  {runs[0][2][:90]}")


if __name__ == "__main__":
    main()
