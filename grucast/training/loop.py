"""fit(): the optimisation loop, with early stopping on validation loss and the best weights kept.

It knows nothing about GRUs: any module mapping a window's scaled inputs (features.layout's
WindowData) to scaled forecasts [B, H] trains here. Progress leaves through a callback; nothing
here prints.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import numpy as np
import torch
from torch import nn

from grucast.config import validate
from grucast.config.settings import Config, output_quantiles
from grucast.errors import GrucastError, Interrupted
from grucast.features.layout import WindowData
from grucast.models.network import members
from grucast.training.losses import evaluate_loss, loss_function


@dataclass
class EvalRecord:
    """One validation check."""

    epoch: float  # epochs done, fractional inside an epoch
    step: int
    train_loss: float  # mean training loss since the previous check
    val_loss: float
    best: bool  # the best validation loss so far
    windows_per_s: float  # training windows per second since the previous check
    lr: float
    member: int = 0  # which network of an ensemble (0 for a single one)


@dataclass
class FitResult:
    state_dict: dict[str, torch.Tensor]  # the best weights
    history: list[EvalRecord]
    best_step: int
    best_val_loss: float
    steps: int
    epochs: float  # epochs run, fractional when stopped inside one
    train_seconds: float  # time spent in training steps (validation excluded)
    windows_seen: int
    stop_reason: str  # epochs | max_steps | early_stopping
    members: list[dict[str, Any]] = field(default_factory=list)  # an ensemble's networks, one summary each

    @property
    def windows_per_s(self) -> float:
        return self.windows_seen / self.train_seconds if self.train_seconds > 0 else float("nan")


class Callback(Protocol):
    def on_note(self, message: str) -> None: ...  # optional: a one-off message (e.g. a kernel being built)
    def on_member(self, member: int, n_members: int, seed: int) -> None: ...  # ensembles: before each network
    def on_start(self, total_steps: int, steps_per_epoch: int, windows_per_epoch: int) -> None: ...
    def on_step(self, step: int) -> None: ...
    def on_eval(self, record: EvalRecord) -> None: ...
    def on_end(self, result: FitResult) -> None: ...


class NullCallback:
    def on_note(self, message):
        pass

    def on_member(self, member, n_members, seed):
        pass

    def on_start(self, total_steps, steps_per_epoch, windows_per_epoch):
        pass

    def on_step(self, step):
        pass

    def on_eval(self, record):
        pass

    def on_end(self, result):
        pass


def mixed_precision(precision: str, device: torch.device):
    """The autocast context of the training forward pass: bf16 when asked for, else none.
    Weights, optimizer and loss stay float32; validation and forecasts always run in float32.
    Not a default: on an H200 bf16 trained the default model (2 x 64, batch 256) 17 % slower and
    only paid at batch 1,024 (+15 %), and CPUs without bf16 units run it several times slower."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fit(
    model: nn.Module,
    data: WindowData,
    train_starts: np.ndarray,
    val_starts: np.ndarray,
    cfg: Config,
    callback: Optional[Callback] = None,
    stop: Optional[Any] = None,
    resume: Optional[dict[str, Any]] = None,
    member: int = 0,
) -> FitResult:
    """Train model on windows of the data layout (already on the model's device) and return
    the best weights by validation loss. Repeatable on CPU for a given seed.

    stop: an object whose ``signum`` becomes a signal number when the run should end (see
    runs.stop_on_signals); it is polled after every step, and the run then raises
    Interrupted carrying the state (weights, optimizer, schedule, RNG, position in the epoch,
    best weights, history) that resume= continues from, step for step as if never stopped."""
    cb = callback or NullCallback()
    t = cfg.training
    device = data.values.device
    L, H = cfg.model.input_size, cfg.model.horizon
    if t.learning_rate is None:
        raise ValueError("TrainConfig must be resolved (learning_rate set): see api.resolve")
    loss_fn = loss_function(t.loss, output_quantiles(cfg.model))
    autocast = mixed_precision(t.precision, device)
    torch.manual_seed(t.seed)
    gen = torch.Generator(device="cpu").manual_seed(t.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)

    train_idx = torch.as_tensor(train_starts, dtype=torch.long)
    val_idx = torch.as_tensor(val_starts, dtype=torch.long, device=device)
    n = len(train_idx)
    steps_per_epoch = math.ceil(n / t.batch_size)
    total_steps = min(t.max_steps, t.epochs * steps_per_epoch)
    if t.lr_schedule == "cosine":
        # Anneal over the whole budget; early stopping may end the run before the bottom.
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(k, total_steps) / total_steps))
        )
    else:
        sched = None

    history: list[EvalRecord] = []
    best_loss, best_step, best_state = math.inf, 0, copy.deepcopy(model.state_dict())
    bad_checks, step, seen, train_seconds = 0, 0, 0, 0.0
    run_loss, run_n, run_windows, run_seconds = 0.0, 0, 0, 0.0
    first_epoch, first_batch, perm = 0, 0, None
    if resume is not None:
        if int(resume["windows"]) != n or int(resume["total_steps"]) != total_steps:
            raise ValueError("the resumed run had other training windows or another budget")
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        if sched is not None:
            sched.load_state_dict(resume["schedule"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        history = [EvalRecord(**r) for r in resume["history"]]
        best_loss, best_step, best_state = float(resume["best_loss"]), int(resume["best_step"]), resume["best_state"]
        bad_checks, step, seen = int(resume["bad_checks"]), int(resume["step"]), int(resume["seen"])
        train_seconds = float(resume["train_seconds"])
        run_loss, run_n, run_windows, run_seconds = resume["run"]
        first_epoch, first_batch, perm = int(resume["epoch"]), int(resume["batch"]), resume["perm"]
    cb.on_start(total_steps, steps_per_epoch, n)
    stop_reason = "epochs"

    def snapshot(epoch: int, batch: int) -> dict[str, Any]:
        """Everything the loop needs to go on at (epoch, batch)."""
        return {
            "windows": n, "total_steps": total_steps, "epoch": epoch, "batch": batch, "perm": perm,
            "model": copy.deepcopy(model.state_dict()), "optimizer": copy.deepcopy(opt.state_dict()),
            "schedule": sched.state_dict() if sched is not None else None,
            "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
            "history": [r.__dict__ for r in history], "best_loss": best_loss, "best_step": best_step,
            "best_state": best_state, "bad_checks": bad_checks, "step": step, "seen": seen,
            "train_seconds": train_seconds, "run": [run_loss, run_n, run_windows, run_seconds],
        }

    def check(epoch_float: float) -> bool:
        """Validate; True when early stopping says stop."""
        nonlocal best_loss, best_step, best_state, bad_checks, run_loss, run_n, run_windows, run_seconds
        val_loss = evaluate_loss(model, data, val_idx, cfg, loss_fn)
        improved = math.isinf(best_loss) or val_loss < best_loss - 1e-7 * abs(best_loss)
        if improved:
            best_loss, best_step, bad_checks = val_loss, step, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_checks += 1
        rec = EvalRecord(
            epoch=round(epoch_float, 4),
            step=step,
            train_loss=run_loss / max(run_n, 1),
            val_loss=val_loss,
            best=improved,
            windows_per_s=run_windows / run_seconds if run_seconds > 0 else float("nan"),
            lr=opt.param_groups[0]["lr"],
            member=member,
        )
        history.append(rec)
        cb.on_eval(rec)
        run_loss, run_n, run_windows, run_seconds = 0.0, 0, 0, 0.0
        model.train()
        return bad_checks >= t.patience

    model.train()
    stop_now = False
    for epoch in range(first_epoch, t.epochs):
        if perm is None or epoch != first_epoch:
            perm = train_idx[torch.randperm(n, generator=gen)]
        for b in range(first_batch if epoch == first_epoch else 0, steps_per_epoch):
            started = time.perf_counter()
            s = perm[b * t.batch_size:(b + 1) * t.batch_size].to(device, non_blocking=True)
            inputs, (_, _, (y, ym)) = data.batch(s, L, H)
            opt.zero_grad(set_to_none=True)
            with autocast:
                out = model(inputs["x"], inputs)
            loss = loss_fn(out.float(), y, ym)
            if not torch.isfinite(loss):
                raise GrucastError(
                    f"training diverged at step {step + 1}: the loss is not a finite number; "
                    "try a lower --lr, or check the data for extreme values"
                )
            loss.backward()
            if t.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            run_loss += float(loss.detach())
            run_n += 1
            run_windows += len(s)
            seen += len(s)
            elapsed = time.perf_counter() - started
            run_seconds += elapsed
            train_seconds += elapsed
            cb.on_step(step)
            end_of_epoch = b == steps_per_epoch - 1
            if step >= total_steps:
                stop_reason = "max_steps" if step >= t.max_steps and step < t.epochs * steps_per_epoch else "epochs"
                check(epoch + (b + 1) / steps_per_epoch)
                stop_now = True
                break
            if end_of_epoch or step % t.eval_every == 0:
                if check(epoch + (b + 1) / steps_per_epoch):
                    stop_reason, stop_now = "early_stopping", True
                    break
            if stop is not None and stop.signum is not None:
                at = (epoch + 1, 0) if end_of_epoch else (epoch, b + 1)
                if end_of_epoch:
                    perm = None  # the next epoch draws its own order
                raise Interrupted(int(stop.signum), step, snapshot(*at))
        if stop_now:
            break

    model.load_state_dict(best_state)
    result = FitResult(
        state_dict=best_state,
        history=history,
        best_step=best_step,
        best_val_loss=best_loss,
        steps=step,
        epochs=history[-1].epoch if history else 0.0,
        train_seconds=train_seconds,
        windows_seen=seen,
        stop_reason=stop_reason,
    )
    cb.on_end(result)
    return result


def _summary(result: FitResult, seed: int) -> dict[str, Any]:
    """A member's FitResult without its weights: what the report and a resumed run need."""
    return {"seed": seed, "steps": result.steps, "epochs": result.epochs, "best_step": result.best_step,
            "best_val_loss": result.best_val_loss, "stop_reason": result.stop_reason,
            "train_seconds": result.train_seconds, "windows_seen": result.windows_seen,
            "history": [r.__dict__ for r in result.history]}


def fit_all(
    model: nn.Module,
    data: WindowData,
    train_starts: np.ndarray,
    val_starts: np.ndarray,
    cfg: Config,
    callback: Optional[Callback] = None,
    stop: Optional[Any] = None,
    resume: Optional[dict[str, Any]] = None,
) -> FitResult:
    """fit() for a single network; for an ensemble (model.members) every member in turn, member
    k with seed + k and its own early stopping, so member k is exactly the network a single run
    with seed + k trains. The result adds the members up (steps, epochs, seconds) and gives the
    ensemble's own validation loss; resume also carries the members already trained."""
    nets = members(model)
    if len(nets) == 1:
        return fit(model, data, train_starts, val_starts, cfg, callback, stop=stop, resume=resume)
    cb = callback or NullCallback()
    seed, first, done = cfg.training.seed, 0, []
    if resume is not None:
        first = int(resume["member"])
        for net, state in zip(nets, resume["members_done"]):
            net.load_state_dict(state)
        done = list(resume["results_done"])
    for k in range(first, len(nets)):
        if hasattr(cb, "on_member"):  # a callback written before ensembles need not have it
            cb.on_member(k, len(nets), seed + k)
        try:
            r = fit(nets[k], data, train_starts, val_starts, validate.replace(cfg, training={"seed": seed + k}), cb,
                    stop=stop, resume=resume if k == first else None, member=k)
        except Interrupted as e:
            e.state.update(member=k, members_done=[copy.deepcopy(n.state_dict()) for n in nets[:k]], results_done=done)
            raise
        done.append(_summary(r, seed + k))
    device = data.values.device
    loss_fn = loss_function(cfg.training.loss, output_quantiles(cfg.model))
    val_loss = evaluate_loss(model, data, torch.as_tensor(val_starts, dtype=torch.long, device=device), cfg, loss_fn)
    return FitResult(
        state_dict=model.state_dict(),
        history=[EvalRecord(**r) for d in done for r in d["history"]],
        best_step=max(d["best_step"] for d in done),
        best_val_loss=val_loss,
        steps=sum(d["steps"] for d in done),
        epochs=sum(d["epochs"] for d in done),
        train_seconds=sum(d["train_seconds"] for d in done),
        windows_seen=sum(d["windows_seen"] for d in done),
        stop_reason=collections.Counter(d["stop_reason"] for d in done).most_common(1)[0][0],
        members=done,
    )


def memory_estimate(cfg: Config, n_points: int, n_series: int, windows: int, n_inputs: int) -> dict[str, int]:
    """Bytes a training run of a resolved config needs, roughly, by part: 'data', the layout of
    every series (value, mask and n_inputs features per point in float32, each series padded by
    input_size - min_input); 'weights', the networks with their gradients, AdamW moments, the
    copies fit keeps (best weights) and the saved checkpoint, 12 float32 copies in all (a 1 x 4,096
    network peaked at 43 bytes per weight); 'activations', what one batch keeps for the backward
    pass (the GRU's gates and states at every step of every layer). Python integers: an absurd
    setting gives an absurd estimate, never an overflow."""
    m, t = cfg.model, cfg.training
    L, H, h, layers = m.input_size, m.horizon, m.hidden_size, m.num_layers
    pad = max(L - (m.min_input or max(1, L // 4)), 0)
    data = (n_points + n_series * pad) * 4 * (2 + n_inputs)
    q = max(len(output_quantiles(m)), 1)
    width = 1 + n_inputs + m.series_embedding
    params = sum(3 * ((width if k == 0 else h) * h + h * h + 2 * h) for k in range(layers)) + (h + 1) * H * q
    params += (n_series + 1) * m.series_embedding  # the table of series embeddings
    weights = (m.ensemble or 1) * params * 4 * 12  # measured: about 40 bytes per weight at 2,048-4,096 units
    batch = min(t.batch_size, max(windows, 1))
    activations = batch * (L + H) * (8 * h * layers + 2 + n_inputs) * 4
    return {"data": data, "weights": weights, "activations": activations}
