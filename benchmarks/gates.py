"""What `grucast gates` says of models trained with the defaults, and whether following its
advice keeps the accuracy and saves time.

    python benchmarks/gates.py [--datasets ett,m4]

For each dataset: the benchmark script trains with grucast's defaults and keeps the model
(etth1.py: ETTh1, OT alone, horizon 24, look-back 168; m4_hourly.py: M4 Hourly, horizon 48);
`grucast gates` reads it over the most recent windows of its training file; where it advises
another --input-size, the same script trains again with that one. Printed: the gates report,
and both runs' test accuracy and training time, as the scripts print them. Run it alone: the
times are the comparison.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _cli import grucast, lines, script

HERE = Path(__file__).resolve().parent


def gates(model: Path, data: Path) -> dict:
    """`grucast gates --json` once, and its findings in a few lines."""
    doc = json.loads(grucast("gates", str(model), str(data), "--json")[0])
    top = doc["layers"][-1]
    attr = doc["attribution"]
    print(f"gates: update gate {top['update_gate_mean']:.3f} ± {top['update_gate_spread']:.3f}, slow units "
          f"{top['slow_units']:.0%}, fast {top['fast_units']:.0%}, half-life {top['memory_half_life']}, 90 % gone after "
          f"{top['memory_90']}; largest attribution "
          + ", ".join(f"lag {k} {attr[k]:.1%}" for k in sorted(attr, key=lambda k: -attr[k])[:5])
          + f"; advice {doc['advice']} {doc['suggested_input_size']} ({'; '.join(doc['reasons'])})", flush=True)
    return doc


def ett(work: Path) -> None:
    base = ["--variants", "uni", "--horizons", "24"]
    out = script(str(HERE / "etth1.py"), *base, "--keep", str(work))
    print("ETTh1, OT alone, h 24, defaults:\n" + lines(out, "H 24, L"), flush=True)
    doc = gates(work / "h24_uni_s0.pt", work / "train.csv")
    if doc["suggested_input_size"] != doc["input_size"]:
        out = script(str(HERE / "etth1.py"), *base, "--input-sizes", str(doc["suggested_input_size"]))
        print(f"ETTh1 again with --input-size {doc['suggested_input_size']}:\n" + lines(out, "H 24, L"), flush=True)


def m4(work: Path) -> None:
    out = script(str(HERE / "m4_hourly.py"), "--quiet", "--keep", str(work))
    print("M4 Hourly, defaults:\n" + lines(out, "settings:", "training:", "M4 Hourly grucast"), flush=True)
    doc = gates(work / "m.pt", work / "train.csv")
    if doc["suggested_input_size"] != doc["input_size"]:
        out = script(str(HERE / "m4_hourly.py"), "--quiet", "--set", f"model.input_size={doc['suggested_input_size']}")
        print(f"M4 Hourly again with --input-size {doc['suggested_input_size']}:\n"
              + lines(out, "settings:", "training:", "M4 Hourly grucast"), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="ett,m4")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.datasets.split(","):
            {"ett": ett, "m4": m4}[name](Path(tmp) / name)


if __name__ == "__main__":
    main()
