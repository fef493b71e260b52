"""Training throughput: `grucast train` end to end against a bare training step of the same
network on the same shapes, measured in one run, one after the other (never side by side).

    python benchmarks/throughput.py [--series 200] [--length 2000] [--hidden 64,128] [--layers 2]
                                    [--batch 256] [--threads 2] [--seconds 20] [--device cpu]
                                    [--kernels auto,reference]

(a) bare: nn.GRU(input, hidden, layers) + Linear head, forward + backward + AdamW step on one
    pre-built batch of random tensors, repeated for --seconds after a warm-up: the speed of the
    network itself, with no data pipeline. Its input width is that of grucast's GRU (the target
    and the calendar features, read from the checkpoint), so both push the same recurrence. Run
    twice: with PyTorch's nn.GRU kernel (the baseline every peer trains on) and with grucast's
    fused CPU kernel on the same module (kernels.fused_gru).
(b) grucast: `python -m grucast train` on a long CSV of --series hourly series x --length points,
    input 168, horizon 24, the same width, depth and batch, once for 1 epoch and once for 2; the
    difference is the time of one epoch with everything grucast does per step (gathering windows
    from the flat array, scaling, calendar features, the head, validation at the end of the
    epoch), and start-up, loading and saving cancel out. The training loop's own windows/s
    (`train --json`) is printed too. Once per --kernels entry (auto: the fused kernel on a CPU).

Prints windows/s of each, grucast over the bare loop of its own kernel (the pipeline's
overhead; goal >= 0.9) and grucast over the bare nn.GRU loop (goal >= 1.4 on the CPU). Also
times a cold build of the fused kernel into an empty extension cache: what the first run on a
machine pays once. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from grucast import checkpoint
from grucast.models import kernels

from _cli import grucast
from _data import hourly_panel

L, H = 168, 24


def bare(width: int, hidden: int, layers: int, batch: int, seconds: float, device: str, kernel: str = "reference") -> float:
    """windows/s of the bare training step, its GRU run by kernel (kernels.run_rnn)."""
    torch.manual_seed(0)
    dev = torch.device(device)
    gru = nn.GRU(width, hidden, num_layers=layers, batch_first=True).to(dev)
    head = nn.Linear(hidden, H).to(dev)
    opt = torch.optim.AdamW(list(gru.parameters()) + list(head.parameters()), lr=1e-3)
    x = torch.randn(batch, L, width, device=dev)
    y = torch.randn(batch, H, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        out = kernels.run_rnn(gru, x, kernel)
        loss = (head(out[:, -1]) - y).abs().mean()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return n * batch / (time.perf_counter() - t0)


def grucast_train(data: Path, out: Path, epochs: int, hidden: int, layers: int, batch: int, threads: int,
                  device: str, extra: list[str]) -> tuple[float, dict]:
    """Wall time and the --json result of one `grucast train` run."""
    out_text, secs = grucast("train", str(data), "-o", str(out), "--epochs", str(epochs), "--horizon", str(H),
                             "--input-size", str(L), "--hidden-size", str(hidden), "--num-layers", str(layers),
                             "--batch-size", str(batch), "--threads", str(threads), "--device", device,
                             "--patience", "1000", "--max-steps", "1000000", "--seed", "0", "-q", "--json", *extra)
    return secs, json.loads(out_text)


def cold_build_seconds() -> float:
    """Seconds to build the fused kernel into an empty extension cache, in a fresh process."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCH_EXTENSIONS_DIR": cache}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from grucast.models import kernels; assert kernels.load() is not None, kernels.reason()"],
                       env=env, check=True)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--hidden", default="64,128")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-calendar", action="store_true", help="grucast without calendar features (input width 1)")
    ap.add_argument("--kernels", default="auto,reference", help="grucast --kernel values to run")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    extra = ["--no-calendar"] if a.no_calendar else []
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, {a.threads} threads, "
          f"device {a.device}; {a.series} series x {a.length} points, input {L}, horizon {H}, {a.layers} layers, "
          f"batch {a.batch}")
    fused = a.device == "cpu" and kernels.select("auto", torch.device("cpu")) == "fused"
    if fused:
        print(f"fused kernel: cold build {cold_build_seconds():.1f} s into an empty cache (once per machine, torch "
              "version and kernel source); every later run loads the cached build")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "panel.csv"
        hourly_panel(data, a.series, a.length)
        rows = []
        for hidden in (int(x) for x in a.hidden.split(",")):
            bases: dict[str, float] = {}
            for kernel in a.kernels.split(","):
                k = ["--kernel", kernel]
                t1, r1 = grucast_train(data, Path(tmp) / "m1.pt", 1, hidden, a.layers, a.batch, a.threads, a.device, extra + k)
                t2, r2 = grucast_train(data, Path(tmp) / "m2.pt", 2, hidden, a.layers, a.batch, a.threads, a.device, extra + k)
                used = r2["training"].get("kernel", "reference")
                windows = r2["windows"]["train_per_epoch"]
                width = int(checkpoint.load(Path(tmp) / "m2.pt").state_dict["gru.weight_ih_l0"].shape[1])
                for name in ("reference", used):
                    if name not in bases:
                        bases[name] = bare(width, hidden, a.layers, a.batch, a.seconds, a.device, name)
                end_to_end = windows / (t2 - t1)
                loop = r2["training"]["windows_per_s"]
                own, ref = bases[used], bases["reference"]
                rows.append((hidden, kernel, used, own, ref, end_to_end, loop, t1, t2))
                print(f"hidden {hidden}, --kernel {kernel} ({used}): bare loop {own:,.0f} windows/s (bare nn.GRU "
                      f"{ref:,.0f}); grucast epoch {t2 - t1:.1f}s for {windows:,} windows = {end_to_end:,.0f} windows/s "
                      f"end to end (training loop alone {loop:,.0f}); / own bare loop {end_to_end / own:.2f}, "
                      f"/ bare nn.GRU {end_to_end / ref:.2f}", flush=True)
    print()
    print("| hidden | --kernel | bare loop, same kernel | bare nn.GRU | grucast end to end | / same-kernel bare | "
          "/ bare nn.GRU | training loop alone | 1-epoch / 2-epoch run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for hidden, kernel, used, own, ref, e, loop, t1, t2 in rows:
        print(f"| {hidden} | {kernel} ({used}) | {own:,.0f} | {ref:,.0f} | {e:,.0f} | {e / own:.2f} | {e / ref:.2f} | "
              f"{loop:,.0f} | {t1:.0f} s / {t2:.0f} s |")


if __name__ == "__main__":
    main()
