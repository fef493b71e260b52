"""GRU against LSTM with grucast's defaults, in one run on one machine.

    python benchmarks/cells.py [--datasets ett,m4] [--seeds 0,3,6]

Each dataset's benchmark script is run twice, the second time with --cell lstm (etth1.py: ETTh1,
OT alone, horizon 24, look-back 168; m4_hourly.py: M4 Hourly, horizon 48); printed: both runs'
settings, training and test lines as the scripts print them, and the recurrent weights of each
cell. --seeds trains ETTh1 with each seed (etth1.py's own --seeds, with a mean row): 0,3,6 for
the default ensembles of 3, whose members take seeds s to s + 2, so that no two runs share a
network. M4 Hourly runs seed 0 only (one run of both cells takes about 22 minutes). The GRU
runs grucast's fused CPU kernel, the LSTM nn.LSTM. Run it alone: the times are the comparison.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _cli import lines, script

HERE = Path(__file__).resolve().parent


def recurrent_weights(cell: str, inputs: int, hidden: int) -> int:
    """Weights of one recurrent layer: 3 gate blocks for a GRU, 4 for an LSTM."""
    blocks = 3 if cell == "gru" else 4
    return blocks * hidden * (inputs + hidden + 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="ett,m4")
    ap.add_argument("--seeds", default="0", help="ETTh1's training seeds, comma-separated")
    a = ap.parse_args()
    for name in a.datasets.split(","):
        for cell in ("gru", "lstm"):
            if name == "ett":
                out = script(str(HERE / "etth1.py"), "--variants", "uni", "--horizons", "24", "--seeds", a.seeds,
                             "--train-args", f"--cell {cell}")
                print(f"ETTh1, OT alone, h 24, {cell}:\n" + lines(out, "H 24, L"), flush=True)
            else:
                out = script(str(HERE / "m4_hourly.py"), "--quiet", "--set", f"model.cell={cell}")
                print(f"M4 Hourly, {cell}:\n" + lines(out, "settings:", "training:", "M4 Hourly grucast"), flush=True)
        print(f"recurrent weights of one layer, 1 input, hidden 64: GRU {recurrent_weights('gru', 1, 64):,}, "
              f"LSTM {recurrent_weights('lstm', 1, 64):,}", flush=True)


if __name__ == "__main__":
    main()
