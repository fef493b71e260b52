"""What `grucast gates` says of models trained with the defaults, and whether following its
advice keeps the accuracy and saves time.

    python benchmarks/gates.py [--datasets ett,ett2,m4,exchange]

For each dataset: the benchmark script trains with grucast's defaults and keeps the model
(etth1.py: ETTh1, or ETTh2 with ett2, OT alone, horizon 24, look-back 168; m4_hourly.py: M4 Hourly, horizon 48);
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


def ett(work: Path, name: str = "ETTh1") -> None:
    base = ["--variants", "uni", "--horizons", "24", "--data", str(ETT / f"{name}.csv")]
    out = script(str(HERE / "etth1.py"), *base, "--keep", str(work))
    print(f"{name}, OT alone, h 24, defaults:\n" + lines(out, "H 24, L"), flush=True)
    doc = gates(work / "h24_uni_s0.pt", work / "train.csv")
    if doc["suggested_input_size"] != doc["input_size"]:
        out = script(str(HERE / "etth1.py"), *base, "--input-sizes", str(doc["suggested_input_size"]))
        print(f"{name} again with --input-size {doc['suggested_input_size']}:\n" + lines(out, "H 24, L"), flush=True)


def m4(work: Path) -> None:
    out = script(str(HERE / "m4_hourly.py"), "--quiet", "--keep", str(work))
    print("M4 Hourly, defaults:\n" + lines(out, "settings:", "training:", "M4 Hourly grucast"), flush=True)
    doc = gates(work / "m.pt", work / "train.csv")
    if doc["suggested_input_size"] != doc["input_size"]:
        out = script(str(HERE / "m4_hourly.py"), "--quiet", "--set", f"model.input_size={doc['suggested_input_size']}")
        print(f"M4 Hourly again with --input-size {doc['suggested_input_size']}:\n"
              + lines(out, "settings:", "training:", "M4 Hourly grucast"), flush=True)


EXCHANGE = HERE.parent.parent / "shared" / "data" / "lstnet" / "exchange_rate.txt.gz"
ETT = HERE.parent.parent / "shared" / "data" / "ett"


def exchange(work: Path) -> None:
    import numpy as np
    import pandas as pd

    work.mkdir(parents=True)
    raw = pd.read_csv(EXCHANGE, header=None).to_numpy(dtype=float)
    n = len(raw)
    fit = raw[: int(0.7 * n)]
    z = (raw - fit.mean(axis=0)) / fit.std(axis=0)
    frame = pd.DataFrame({"series_id": np.repeat([f"c{j}" for j in range(z.shape[1])], n),
                          "timestamp": np.tile(np.arange(n), z.shape[1]), "value": z.T.ravel()})
    frame.to_csv(work / "full.csv", index=False)
    frame[frame.timestamp < int(0.8 * n)].to_csv(work / "train.csv", index=False)
    windows = (n - int(0.8 * n)) // 24

    def run(*extra: str) -> tuple[dict, float]:
        _, secs = grucast("train", str(work / "train.csv"), "-o", str(work / "m.pt"), "--horizon", "24", "--season", "1",
                          "-q", *extra)
        doc = json.loads(grucast("evaluate", str(work / "m.pt"), str(work / "full.csv"), "--windows", str(windows),
                                 "--stride", "24", "--json")[0])
        return doc, secs

    def show(label: str, doc: dict, secs: float) -> None:
        g, naive = doc["metrics"]["gru"], doc["metrics"]["naive"]
        print(f"{label}: test MAE {g['mae']:.4f} RMSE {g['rmse']:.4f} MASE {g['mase']:.3f} (naive: MAE "
              f"{naive['mae']:.4f} RMSE {naive['rmse']:.4f}); train {secs:.0f}s", flush=True)

    for label, extra in (("defaults", []), ("--anchor naive", ["--anchor", "naive"])):
        doc, secs = run(*extra)
        show(f"Exchange rates, h 24, {label}", doc, secs)
        advice = gates(work / "m.pt", work / "train.csv")
        if advice["suggested_input_size"] != advice["input_size"]:
            doc, secs = run(*extra, "--input-size", str(advice["suggested_input_size"]))
            show(f"Exchange rates, {label}, again with --input-size {advice['suggested_input_size']}", doc, secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="ett,m4")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.datasets.split(","):
            {"ett": ett, "ett2": lambda w: ett(w, "ETTh2"), "m4": m4, "exchange": exchange}[name](Path(tmp) / name)


if __name__ == "__main__":
    main()
