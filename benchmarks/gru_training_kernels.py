"""Can a hand-written GRU train faster than nn.GRU on this CPU? One training step (forward and
backward through time of one GRU layer, input width 9, 168 steps, batch 256) four ways, in one
run, each checked against nn.GRU's gradients:

- nn.GRU: PyTorch's own kernel, what grucast and its peers train with;
- BPTT by hand: one autograd Function, the recurrence step by step in PyTorch ops, the backward
  written out (per step only dh @ W_hh; the weight gradients as one matrix product over all
  steps instead of one per step);
- the same with each step's pointwise math compiled (torch.compile, fused into one kernel per
  step and direction); its compile time is printed;
- grucast's fused CPU kernel (grucast/models/csrc/gru_cpu.cpp through kernels.fused_gru): the same
  algorithm as "BPTT by hand" in C++, one matrix product and one vectorised gate loop per step;
- (--whole) the recurrence written out and compiled whole, the approach measured at 1.2-1.45x
  nn.GRU on an AVX-512 machine, with a cold compile of minutes.

    python benchmarks/gru_training_kernels.py [--hidden 64,128] [--threads 2] [--seconds 10] [--whole]
"""

from __future__ import annotations

import argparse
import time

import torch
from gru_kernels import rate
from torch import nn

from grucast.models import kernels

B, T, F = 256, 168, 9


def _step(g: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """h' from the input projection g [B, 3H] and the hidden one gh [B, 3H] (nn.GRU's gates)."""
    H = h.shape[1]
    r = torch.sigmoid(g[:, :H] + gh[:, :H])
    z = torch.sigmoid(g[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(g[:, 2 * H:] + r * gh[:, 2 * H:])
    return n + z * (h - n)


def _step_back(g, gh, h, dh):
    """Gradients of one step: of its input projection, of its hidden projection, and the part
    of dh that flows straight to the previous state (the rest goes through W_hh)."""
    H = h.shape[1]
    r = torch.sigmoid(g[:, :H] + gh[:, :H])
    z = torch.sigmoid(g[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(g[:, 2 * H:] + r * gh[:, 2 * H:])
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (h - n) * z * (1 - z)
    dr = dn * gh[:, 2 * H:] * r * (1 - r)
    return torch.cat([dr, dz, dn], 1), torch.cat([dr, dz, dn * r], 1), dh * z


def layer_function(step, step_back):
    class GRULayer(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w_ih, w_hh, b_ih, b_hh):
            Bx, Tx, _ = x.shape
            H = w_hh.shape[1]
            gi = torch.addmm(b_ih, x.reshape(Bx * Tx, -1), w_ih.t()).view(Bx, Tx, 3 * H).transpose(0, 1).contiguous()
            w_t = w_hh.t().contiguous()
            h, hs, ghs = x.new_zeros(Bx, H), [], []
            hs.append(h)
            for t in range(Tx):
                gh = torch.addmm(b_hh, h, w_t)
                h = step(gi[t], gh, h)
                hs.append(h)
                ghs.append(gh)
            hs = torch.stack(hs)
            ctx.save_for_backward(x, w_ih, w_hh, gi, torch.stack(ghs), hs)
            return hs[1:].transpose(0, 1)

        @staticmethod
        def backward(ctx, dout):
            x, w_ih, w_hh, gi, ghs, hs = ctx.saved_tensors
            Bx, Tx, _ = x.shape
            H = w_hh.shape[1]
            dout = dout.transpose(0, 1)
            dgis, dghs, dh = [None] * Tx, [None] * Tx, torch.zeros_like(hs[0])
            for t in range(Tx - 1, -1, -1):
                dgis[t], dghs[t], direct = step_back(gi[t], ghs[t], hs[t], dh + dout[t])
                dh = torch.addmm(direct, dghs[t], w_hh)
            dgh = torch.stack(dghs).reshape(Tx * Bx, 3 * H)
            dgi = torch.stack(dgis).transpose(0, 1).reshape(Bx * Tx, 3 * H)
            return ((dgi @ w_ih).view(Bx, Tx, -1), dgi.t() @ x.reshape(Bx * Tx, -1), dgh.t() @ hs[:-1].reshape(Tx * Bx, H),
                    dgi.sum(0), dgh.sum(0))

    return GRULayer


class Model(nn.Module):
    """GRU + linear head on the last state: the shape of grucast's network. kind: 'nn.GRU', a
    GRULayer Function, or 'unrolled' (the recurrence in Python, for torch.compile)."""

    def __init__(self, hidden: int, kind):
        super().__init__()
        self.gru, self.head, self.kind = nn.GRU(F, hidden, batch_first=True), nn.Linear(hidden, 24), kind

    def forward(self, x):
        g = self.gru
        if self.kind == "nn.GRU":
            out = g(x)[0]
        elif self.kind == "fused":
            out = kernels.fused_gru(g, x)
        elif self.kind == "unrolled":
            H = g.hidden_size
            gi = torch.addmm(g.bias_ih_l0, x.reshape(-1, F), g.weight_ih_l0.t()).view(x.shape[0], T, 3 * H)
            h = x.new_zeros(x.shape[0], H)
            for t in range(T):
                h = _step(gi[:, t], torch.addmm(g.bias_hh_l0, h, g.weight_hh_l0.t()), h)
            return self.head(h)
        else:
            out = self.kind.apply(x, g.weight_ih_l0, g.weight_hh_l0, g.bias_ih_l0, g.bias_hh_l0)
        return self.head(out[:, -1])


def grads(model, x, y):
    model.zero_grad()
    nn.functional.l1_loss(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


def training_rate(model, x, y, seconds):
    """Windows/s of forward + backward + AdamW (gru_kernels.rate: one warm-up step, then timed)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        nn.functional.l1_loss(model(x), y).backward()
        opt.step()

    step()
    return rate(step, B, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", default="64,128")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--whole", action="store_true", help="also torch.compile the whole unrolled recurrence (minutes)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    assert kernels.load() is not None, kernels.reason()
    eager = layer_function(_step, _step_back)
    fused = layer_function(torch.compile(_step, dynamic=False), torch.compile(_step_back, dynamic=False))
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, {a.threads} threads; "
          f"1 GRU layer, input width {F}, {T} steps, batch {B}; training step = forward + backward + AdamW")
    print("| hidden | kernel | first step (compile) | windows/s | / nn.GRU | max grad difference |")
    print("|---|---|---|---|---|---|")
    for hidden in (int(h) for h in a.hidden.split(",")):
        torch.manual_seed(0)
        x, y = torch.randn(B, T, F), torch.randn(B, 24)
        kinds = [("nn.GRU", "nn.GRU"), ("BPTT by hand", eager), ("BPTT by hand, compiled steps", fused),
                 ("grucast fused kernel (C++)", "fused")]
        if a.whole:
            kinds.append(("unrolled, compiled whole", "unrolled"))
        base, ref = None, None
        for name, kind in kinds:
            torch.manual_seed(1)
            model = Model(hidden, kind)
            if kind == "unrolled":
                model = torch.compile(model)
            t0 = time.perf_counter()
            g = grads(model, x, y)  # the first step: compiles where there is anything to compile
            first = time.perf_counter() - t0
            ref = ref or g
            diff = max(float((p - q).abs().max()) for p, q in zip(g, ref))
            r = training_rate(model, x, y, a.seconds)
            base = base or r
            print(f"| {hidden} | {name} | {first:.1f} s | {r:,.0f} | {r / base:.2f} | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
