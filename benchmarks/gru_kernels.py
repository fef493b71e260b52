"""How fast this machine runs the GRU itself at inference, four ways, in one run:
nn.GRU in float32, nn.GRU under bf16 autocast, the same recurrence written out step by step
in PyTorch (checked equal to nn.GRU), and grucast's fused CPU kernel (grucast/models/kernels.py). It
tells whether bf16 or a hand-written kernel can pay on this CPU.

    python benchmarks/gru_kernels.py [--hidden 64] [--layers 2] [--width 9] [--batches 512,2048] [--seconds 3]
"""

from __future__ import annotations

import argparse
import time

import torch

T = 168


def step_by_step(gru: torch.nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """nn.GRU's equations (r, z, n gates; n = tanh(W_in x + b_in + r * (W_hn h + b_hn))), one
    matrix product per step for the recurrence and one for all input projections."""
    out, H = x, gru.hidden_size
    for layer in range(gru.num_layers):
        w_ih, w_hh = getattr(gru, f"weight_ih_l{layer}"), getattr(gru, f"weight_hh_l{layer}")
        b_ih, b_hh = getattr(gru, f"bias_ih_l{layer}"), getattr(gru, f"bias_hh_l{layer}")
        B = out.shape[0]
        gi = torch.addmm(b_ih, out.reshape(-1, out.shape[-1]), w_ih.t()).view(B, T, 3 * H)
        h, hs, w_hh_t = out.new_zeros(B, H), [], w_hh.t().contiguous()
        for t in range(T):
            i_r, i_z, i_n = gi[:, t].chunk(3, 1)
            h_r, h_z, h_n = torch.addmm(b_hh, h, w_hh_t).chunk(3, 1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            h = n + z * (h - n)
            hs.append(h)
        out = torch.stack(hs, 1)
    return out


def rate(fn, batch: int, seconds: float) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return batch * n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--width", type=int, default=9, help="inputs per step (grucast's: target + calendar)")
    ap.add_argument("--batches", default="512,2048")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    gru = torch.nn.GRU(a.width, a.hidden, num_layers=a.layers, batch_first=True).eval()
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, {a.threads} threads; "
          f"GRU {a.layers} x {a.hidden}, input width {a.width}, {T} steps; series/s of the forward pass")
    from grucast.models import kernels

    assert kernels.load() is not None, kernels.reason()
    print("| batch | nn.GRU fp32 | nn.GRU bf16 autocast | bf16 / fp32 | step by step fp32 | step by step / nn.GRU "
          "| fused kernel | fused / nn.GRU | max abs difference (step by step, fused) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch in (int(b) for b in a.batches.split(",")):
        x = torch.randn(batch, T, a.width)
        with torch.inference_mode():
            diff = float((gru(x)[0] - step_by_step(gru, x)).abs().max())
            diff_fused = float((gru(x)[0] - kernels.fused_gru(gru, x)).abs().max())
            fp32 = rate(lambda: gru(x), batch, a.seconds)
            manual = rate(lambda: step_by_step(gru, x), batch, a.seconds)
            fused = rate(lambda: kernels.fused_gru(gru, x), batch, a.seconds)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                bf16 = rate(lambda: gru(x), batch, a.seconds)
        print(f"| {batch:,} | {fp32:,.0f} | {bf16:,.0f} | {bf16 / fp32:.2f} | {manual:,.0f} | {manual / fp32:.2f} "
              f"| {fused:,.0f} | {fused / fp32:.2f} | {diff:.1e}, {diff_fused:.1e} |", flush=True)


if __name__ == "__main__":
    main()
