"""fit(): the optimisation loop, with early stopping on validation loss and the best weights kept.

It knows nothing about GRUs: any module mapping a window's scaled inputs (features.layout's
WindowData) to scaled forecasts [B, H] trains here. Progress leaves through a callback; nothing
here prints. What the loop carries from one step to the next is one LoopState (an ensemble adds
an EnsembleState); their snapshots are the state an interrupted run saves and resume= goes on from.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import numpy as np
import torch
from torch import nn

from grucast.config.settings import Config, output_quantiles
from grucast.errors import GrucastError, Interrupted, PeerLost
from grucast.features.layout import WindowData
from grucast.models.network import members
from grucast.training import distributed
from grucast.training.distributed import SINGLE, World
from grucast.training.losses import MaskedLoss, evaluate_loss, loss_function
from grucast.training.partition import WindowMap


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


class NullCallback(Callback):
    """Hears everything and does nothing: what fit reports to when no callback is given."""


def mixed_precision(precision: str, device: torch.device):
    """The autocast context of the training forward pass: bf16 when asked for, else none.
    Weights, optimizer and loss stay float32; validation and forecasts always run in float32.
    Not a default: it only paid on a GPU at large batches, and CPUs without bf16 units run it
    several times slower (see benchmarks/README.md, 'bf16 on a GPU' and 'Performance')."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ---------------------------------------------------------------- the state of the loop


@dataclass
class LoopState:
    """Everything the loop carries from one step to the next, for one network. Each field is a
    key of the resume snapshot (snapshot(), from_snapshot()), the four run_* together its 'run';
    the torch objects stand there as their states, beside the process-wide torch RNG. A run
    continued from a snapshot goes on step for step as if it had never stopped."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Optional[torch.optim.lr_scheduler.LRScheduler]  # None: a constant learning rate
    generator: torch.Generator  # draws each epoch's window order
    windows: int  # training windows per epoch and
    total_steps: int  # the step budget: a resumed run must have the same
    epoch: int = 0  # the epoch under way,
    batch: int = 0  # its next batch
    perm: Optional[torch.Tensor] = None  # [windows] its window order; None: the epoch draws its own
    step: int = 0  # steps done
    seen: int = 0  # training windows seen
    train_seconds: float = 0.0  # time in training steps (validation excluded)
    run_loss: float = 0.0  # since the last validation check: the sum of the step losses,
    run_n: int = 0  # the steps,
    run_windows: int = 0  # the windows
    run_seconds: float = 0.0  # and the seconds
    best_loss: float = math.inf  # the best validation loss so far,
    best_step: int = 0  # the step that reached it
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)  # and the weights then
    bad_checks: int = 0  # checks since, without improvement (early stopping's patience)
    history: list[EvalRecord] = field(default_factory=list)
    # Not in the snapshot: the model wrapped in DistributedDataParallel when several ranks train
    # it (training.distributed), which the training steps run through; and whether any rank was
    # asked to stop at the last step.
    ddp: Optional[nn.Module] = None
    stop_asked: bool = False

    def snapshot(self) -> dict[str, Any]:
        """The resume state: plain containers and tensors, copies of those later steps change.
        Its keys are those every grucast with resume has written: MODEL.resume files of earlier
        versions resume too."""
        return {
            "windows": self.windows, "total_steps": self.total_steps, "epoch": self.epoch, "batch": self.batch,
            "perm": self.perm, "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "schedule": copy.deepcopy(self.schedule.state_dict()) if self.schedule is not None else None,
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "history": [dataclasses.asdict(r) for r in self.history], "best_loss": self.best_loss,
            "best_step": self.best_step, "best_state": self.best_state, "bad_checks": self.bad_checks,
            "step": self.step, "seen": self.seen, "train_seconds": self.train_seconds,
            "run": [self.run_loss, self.run_n, self.run_windows, self.run_seconds],
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
                      schedule: Optional[torch.optim.lr_scheduler.LRScheduler],
                      generator: torch.Generator) -> LoopState:
        """The state a snapshot holds, its torch states loaded into these objects (built as the
        interrupted run built them) and into the torch RNG. snap may come straight from a
        checkpoint: keys of the optimizer's per-parameter state stored as text are read back."""
        model.load_state_dict(snap["model"])
        opt = dict(snap["optimizer"])
        opt["state"] = {int(k): v for k, v in opt["state"].items()}
        optimizer.load_state_dict(opt)
        if schedule is not None:
            schedule.load_state_dict(snap["schedule"])
        generator.set_state(snap["generator"])
        torch.set_rng_state(snap["torch_rng"])
        run_loss, run_n, run_windows, run_seconds = snap["run"]
        return cls(
            model, optimizer, schedule, generator, windows=int(snap["windows"]), total_steps=int(snap["total_steps"]),
            epoch=int(snap["epoch"]), batch=int(snap["batch"]), perm=snap["perm"], step=int(snap["step"]),
            seen=int(snap["seen"]), train_seconds=float(snap["train_seconds"]), run_loss=run_loss, run_n=run_n,
            run_windows=run_windows, run_seconds=run_seconds, best_loss=float(snap["best_loss"]),
            best_step=int(snap["best_step"]), best_state=snap["best_state"], bad_checks=int(snap["bad_checks"]),
            history=[EvalRecord(**r) for r in snap["history"]],
        )


@dataclass
class EnsembleState:
    """Where the training of an ensemble stands: the network in training and what the finished
    ones left. Its keys extend that network's LoopState snapshot."""

    member: int = 0  # the network in training
    done: list[dict[str, Any]] = field(default_factory=list)  # a summary of each finished one (_summary)

    def snapshot(self, nets: list[nn.Module]) -> dict[str, Any]:
        return {"member": self.member, "members_done": [copy.deepcopy(n.state_dict()) for n in nets[:self.member]],
                "results_done": self.done}

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any], nets: list[nn.Module]) -> EnsembleState:
        """The state a snapshot holds, the finished networks' weights loaded into nets."""
        for net, state in zip(nets, snap["members_done"]):
            net.load_state_dict(state)
        return cls(member=int(snap["member"]), done=list(snap["results_done"]))


@dataclass
class _Job:
    """What every network of one fit() call trains on, fixed for the whole call."""

    data: WindowData
    train_idx: torch.Tensor  # [n] int64 window starts, on the CPU, where each epoch's order is drawn
    val_idx: torch.Tensor  # [v] int64 window starts, on the data's device
    cfg: Config
    cb: Callback
    stop: Optional[Any]
    loss_fn: MaskedLoss
    autocast: Any  # mixed_precision's context
    steps_per_epoch: int
    total_steps: int
    check_start: bool = False  # validate the untrained network before the first step (fit)
    world: World = SINGLE  # the ranks training together (training.distributed)
    # A panel partitioned over the ranks (training.partition): the windows of the whole panel,
    # which the epochs' orders name; train_idx and val_idx are then this rank's own.
    whole: Optional[WindowMap] = None

    @property
    def windows(self) -> int:
        """Training windows of an epoch (of the whole panel)."""
        return len(self.train_idx) if self.whole is None else self.whole.windows

    def draw(self, generator: torch.Generator) -> torch.Tensor:
        """An epoch's order of the training windows, as their starts. Partitioned, the order is
        drawn as int32 (the same permutation and generator state as int64, half the memory)
        and the starts are those of the whole panel's layout."""
        if self.whole is None:
            return self.train_idx[torch.randperm(self.windows, generator=generator)]
        small = self.windows < 2 ** 31
        return self.whole.starts(torch.randperm(self.windows, generator=generator,
                                                dtype=torch.int32 if small else torch.int64))

    def mine(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of a batch, (its places in the batch, its starts in this rank's
        layout): every size-th window, or those of its own series."""
        if self.whole is None:
            places = torch.arange(self.world.rank, len(starts), self.world.size, device=starts.device)
            return places, starts[places]
        return self.whole.mine(starts)


def _job(data: WindowData, train_starts: np.ndarray, val_starts: np.ndarray, cfg: Config,
         callback: Optional[Callback], stop: Optional[Any], check_start: bool = False,
         world: World = SINGLE, whole: Optional[WindowMap] = None) -> _Job:
    t, device = cfg.training, data.values.device
    train_idx = torch.as_tensor(train_starts, dtype=torch.long)
    steps_per_epoch = math.ceil((len(train_idx) if whole is None else whole.windows) / t.batch_size)
    epoch_steps = t.max_steps if t.epochs is None else t.epochs * steps_per_epoch
    return _Job(
        data=data, train_idx=train_idx, val_idx=torch.as_tensor(val_starts, dtype=torch.long, device=device),
        cfg=cfg, cb=callback or NullCallback(), stop=stop,
        loss_fn=loss_function(t.loss, output_quantiles(cfg.model)), autocast=mixed_precision(t.precision, device),
        steps_per_epoch=steps_per_epoch, total_steps=min(t.max_steps, epoch_steps),
        check_start=check_start, world=world, whole=whole,
    )


# ---------------------------------------------------------------- one network


def _start(model: nn.Module, job: _Job, seed: int, resume: Optional[dict[str, Any]]) -> LoopState:
    """A network's state before its first step, or where the snapshot resume left it."""
    t = job.cfg.training
    if t.learning_rate is None:
        raise ValueError("TrainConfig must be resolved (learning_rate set): see training.defaults.resolve")
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    sched, total = None, job.total_steps
    if t.lr_schedule == "cosine":
        # Anneal over the whole budget; early stopping may end the run before the bottom.
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(k, total) / total))
        )
    n = job.windows
    if resume is None:
        return LoopState(model, opt, sched, gen, windows=n, total_steps=total,
                         best_state=copy.deepcopy(model.state_dict()))
    if int(resume["windows"]) != n or int(resume["total_steps"]) != total:
        raise ValueError("the resumed run had other training windows or another budget")
    return LoopState.from_snapshot(resume, model, opt, sched, gen)


def _train_step(state: LoopState, job: _Job) -> None:
    """One optimizer step on the next batch of the epoch's order; the position moves on."""
    t, L, H = job.cfg.training, job.cfg.model.input_size, job.cfg.model.horizon
    started = time.perf_counter()
    b = state.batch
    s = state.perm[b * t.batch_size:(b + 1) * t.batch_size].to(job.data.values.device, torch.long,
                                                               non_blocking=True)  # [B]
    shared = None
    if job.world.active:
        loss, shared = _shared_step(state, job, s)
    else:
        inputs, (_, _, (y, ym)) = job.data.batch(s, L, H)  # y: [B, H] scaled targets, ym: their mask or None
        state.optimizer.zero_grad(set_to_none=True)
        with job.autocast:
            out = state.model(inputs["x"], inputs)  # [B, L] -> [B, H] (or [B, H, Q] quantiles)
        loss = logged = job.loss_fn(out.float(), y, ym)
    loss.backward()
    if shared is not None:
        logged = shared()
    if not torch.isfinite(logged):
        raise GrucastError(
            f"training diverged at step {state.step + 1}: the loss is not a finite number; "
            "try a lower --lr, or check the data for extreme values"
        )
    if t.grad_clip > 0:
        nn.utils.clip_grad_norm_(state.model.parameters(), t.grad_clip)
    state.optimizer.step()
    if state.schedule is not None:
        state.schedule.step()
    state.step += 1
    state.run_loss += float(logged.detach())
    state.run_n += 1
    state.run_windows += len(s)
    state.seen += len(s)
    elapsed = time.perf_counter() - started
    state.run_seconds += elapsed
    state.train_seconds += elapsed
    state.batch += 1
    if state.batch == job.steps_per_epoch:  # the epoch is done: the next one draws its own order
        state.epoch, state.batch, state.perm = state.epoch + 1, 0, None


def _shared_step(state: LoopState, job: _Job, s: torch.Tensor) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """The forward pass of one rank over its share of the global batch s: (the loss to
    backpropagate, and what to call after the backward pass, which returns the global batch's
    mean loss). The loss is this rank's sum over its targets times the number of ranks that
    DistributedDataParallel averages the gradients over, so the gradients add up over the
    ranks; the call then divides them by the global number of targets: the gradient of the
    global batch's mean loss, as one rank would take it. The target count (with the stop flag)
    and the loss sum travel in all-reduces that run while the network computes, so a step
    waits for the other ranks only in DDP's gradient all-reduce. A rank whose share is empty (a
    last batch smaller than the number of ranks) runs one window at weight 0, because every rank
    must take part in the gradient average. The series embedding's random draws are made for
    the global batch, as one process makes them, and each rank takes those of its windows."""
    L, H, world = job.cfg.model.input_size, job.cfg.model.horizon, job.world
    places, mine = job.mine(s)
    weight = 1.0
    if len(mine) == 0:
        places, mine, weight = places[:0], job.train_idx[:1].to(s.device), 0.0
    inputs, (_, _, (y, ym)) = job.data.batch(mine, L, H)
    if "sid" in inputs:
        draw = torch.rand(len(s), device=s.device)
        inputs["sid_draw"] = draw[places] if len(places) else draw[:1]
    count = (float(y.numel()) if ym is None else float(ym.sum())) * weight
    asked = 1.0 if job.stop is not None and job.stop.signum is not None else 0.0
    counts = torch.tensor([count, asked], dtype=torch.float64, device=y.device)
    counted = world.sum_async(counts)
    state.optimizer.zero_grad(set_to_none=True)
    with job.autocast:
        out = state.ddp(inputs["x"], inputs)
    each = job.loss_fn.each(out.float(), y)
    total = (each if ym is None else each * ym).sum() * weight
    summed = total.detach().double().reshape(1)
    totalled = world.sum_async(summed)

    def finish() -> torch.Tensor:
        counted.wait()
        totalled.wait()
        state.stop_asked = bool(counts[1] > 0)
        n = counts[0].clamp_min(1.0)
        for p in state.model.parameters():
            if p.grad is not None:
                p.grad.div_(n.to(p.grad.dtype))
        return (summed[0] / n).float()

    return total * world.size, finish


def _validate(state: LoopState, job: _Job, member: int) -> bool:
    """A validation check, recorded and reported; True when early stopping says stop."""
    val_loss = evaluate_loss(state.model, job.data, job.val_idx, job.cfg, job.loss_fn, world=job.world,
                             own=job.whole is not None)
    improved = math.isinf(state.best_loss) or val_loss < state.best_loss - 1e-7 * abs(state.best_loss)
    if improved:
        state.best_loss, state.best_step, state.bad_checks = val_loss, state.step, 0
        state.best_state = copy.deepcopy(state.model.state_dict())
    else:
        state.bad_checks += 1
    rec = EvalRecord(
        epoch=round(state.epoch + state.batch / job.steps_per_epoch, 4),
        step=state.step,
        train_loss=state.run_loss / state.run_n if state.run_n else math.nan,  # NaN: the check before step 1
        val_loss=val_loss,
        best=improved,
        windows_per_s=state.run_windows / state.run_seconds if state.run_seconds > 0 else float("nan"),
        lr=state.optimizer.param_groups[0]["lr"],
        member=member,
    )
    state.history.append(rec)
    job.cb.on_eval(rec)
    state.run_loss, state.run_n, state.run_windows, state.run_seconds = 0.0, 0, 0, 0.0
    state.model.train()
    return state.bad_checks >= job.cfg.training.patience


def _after_step(state: LoopState, job: _Job, member: int) -> Optional[str]:
    """The decision after a step: why the run ends here (after a last validation check), or
    None to go on. A stop asked for (job.stop) raises Interrupted carrying the snapshot."""
    t = job.cfg.training
    if state.step >= state.total_steps:
        capped = t.epochs is not None and state.step >= t.epochs * job.steps_per_epoch
        budget = "max_steps" if state.step >= t.max_steps and not capped else "epochs"
        _validate(state, job, member)
        return budget
    check = state.batch == 0 or state.step % t.eval_every == 0  # batch 0: this step ended an epoch
    if check and _validate(state, job, member):
        return "early_stopping"
    if job.world.active:  # only the flag summed over the ranks decides, so every rank stops at the same step
        if state.stop_asked:
            signum = job.stop.signum if job.stop is not None and job.stop.signum is not None else 15
            raise Interrupted(int(signum), state.step, state.snapshot())
    elif job.stop is not None and job.stop.signum is not None:
        raise Interrupted(int(job.stop.signum), state.step, state.snapshot())
    return None


def _fit_network(model: nn.Module, job: _Job, seed: int, member: int = 0,
                 resume: Optional[dict[str, Any]] = None) -> FitResult:
    """Train one network from seed (or on from the snapshot resume); its best weights end in model."""
    state = _start(model, job, seed, resume)
    if job.world.active:
        from torch.nn.parallel import DistributedDataParallel

        state.ddp = DistributedDataParallel(model)  # every rank built the same weights from the seed
    job.cb.on_start(job.total_steps, job.steps_per_epoch, state.windows)
    if job.check_start and resume is None:
        _validate(state, job, member)  # step 0: training must beat the start on held-out data to replace it
    model.train()
    stop_reason = None
    epochs = job.cfg.training.epochs
    while stop_reason is None and (epochs is None or state.epoch < epochs):
        if state.perm is None:
            state.perm = job.draw(state.generator)  # [n]
        try:
            _train_step(state, job)
            job.cb.on_step(state.step)
            stop_reason = _after_step(state, job, member)
        except RuntimeError as e:  # another rank failed: the run as it stood after the last finished step
            detail = distributed.lost_peer(e) if job.world.active else None
            if detail is None:
                raise
            raise PeerLost(state.step, state.snapshot(), detail) from None
    model.load_state_dict(state.best_state)
    result = FitResult(
        state_dict=state.best_state,
        history=state.history,
        best_step=state.best_step,
        best_val_loss=state.best_loss,
        steps=state.step,
        epochs=state.history[-1].epoch if state.history else 0.0,
        train_seconds=state.train_seconds,
        windows_seen=state.seen,
        stop_reason=stop_reason or "epochs",
    )
    job.cb.on_end(result)
    return result


# ---------------------------------------------------------------- fit: one network or an ensemble


def fit(model: nn.Module, data: WindowData, train_starts: np.ndarray, val_starts: np.ndarray, cfg: Config,
        callback: Optional[Callback] = None, stop: Optional[Any] = None,
        resume: Optional[dict[str, Any]] = None, check_start: bool = False, world: World = SINGLE,
        whole: Optional[WindowMap] = None) -> FitResult:
    """Train model on windows of the data layout (already on the model's device) and return
    the best weights by validation loss. Repeatable on CPU for a given seed.

    An ensemble (model.members) trains every member in turn, member k with seed + k and its own
    early stopping, so member k is exactly the network a single run with seed + k trains. Its
    result adds the members up (steps, epochs, seconds) and gives the ensemble's own validation
    loss.

    stop: an object whose ``signum`` becomes a signal number when the run should end (see
    ops.signals.stop_on_signals); it is polled after every step, and the run then raises
    Interrupted carrying the snapshot (LoopState's, and EnsembleState's for an ensemble) that
    resume= continues from, step for step as if never stopped.

    check_start: validate every network before its first step too, so a start that no training
    step beats on the validation windows is what the network keeps (an anchored start: the
    baseline forecast itself).

    world: the ranks that train this model together under torchrun (training.distributed):
    each takes its share of every batch and of the validation windows. whole: the panel is
    partitioned over the ranks (training.partition), train_starts and val_starts are this
    rank's windows, and each takes the windows of every batch that it holds; the members of an
    ensemble then train one after another, each by every rank."""
    job = _job(data, train_starts, val_starts, cfg, callback, stop, check_start, world, whole)
    nets = members(model)
    if len(nets) == 1:
        return _fit_network(model, job, cfg.training.seed, resume=resume)
    if whole is None and distributed.members_across_ranks(len(nets), world):
        return _fit_members_across_ranks(model, nets, job, resume)
    return _fit_ensemble(model, nets, job, resume)




def _summary(result: FitResult, seed: int) -> dict[str, Any]:
    """A member's FitResult without its weights: what the report and a resumed run need."""
    return {"seed": seed, "steps": result.steps, "epochs": result.epochs, "best_step": result.best_step,
            "best_val_loss": result.best_val_loss, "stop_reason": result.stop_reason,
            "train_seconds": result.train_seconds, "windows_seen": result.windows_seen,
            "history": [dataclasses.asdict(r) for r in result.history]}


def _fit_ensemble(model: nn.Module, nets: list[nn.Module], job: _Job, resume: Optional[dict[str, Any]]) -> FitResult:
    """The members one after another, each trained by every rank together (or by the one)."""
    seed = job.cfg.training.seed
    done, running = _members_resume(resume, nets)
    for k in range(len(nets)):
        if k in done:
            continue
        if hasattr(job.cb, "on_member"):  # a callback written before ensembles need not have it
            job.cb.on_member(k, len(nets), seed + k)
        try:
            r = _fit_network(nets[k], job, seed + k, member=k, resume=running.pop(k, None))
        except Interrupted as e:
            if set(done) == set(range(k)) and not running:  # the form every earlier grucast wrote
                e.state.update(EnsembleState(member=k, done=[done[i] for i in range(k)]).snapshot(nets))
            else:
                e.state = _members_snapshot(nets, done, {**running, k: e.state})
            raise
        done[k] = _summary(r, seed + k)
    return _ensemble_result(model, [done[k] for k in range(len(nets))], job)


def _fit_members_across_ranks(model: nn.Module, nets: list[nn.Module], job: _Job,
                              resume: Optional[dict[str, Any]]) -> FitResult:
    """The members in parallel, member k on rank k mod the number of ranks, each trained by its
    rank alone exactly as one process trains it (training.distributed.members_across_ranks says
    when); then every rank has every member. Stopped (a signal on every rank, or another rank
    lost), the members finished and those under way, from every rank still there, make one
    snapshot that resumes on any number of processes."""
    world, seed = job.world, job.cfg.training.seed
    alone = dataclasses.replace(job, world=SINGLE)
    done, running = _members_resume(resume, nets)
    stopped: Optional[Interrupted] = None
    for k in range(world.rank, len(nets), world.size):
        if k in done or stopped is not None:
            continue
        if hasattr(job.cb, "on_member"):
            job.cb.on_member(k, len(nets), seed + k)
        try:
            done[k] = _summary(_fit_network(nets[k], alone, seed + k, member=k, resume=running.pop(k, None)), seed + k)
        except Interrupted as e:
            stopped, running[k] = e, e.state
    own = lambda k: k % world.size == world.rank  # noqa: E731
    mine = ({k: (nets[k].state_dict(), done[k]) for k in done if own(k)}, {k: v for k, v in running.items() if own(k)},
            None if stopped is None else (stopped.signum, stopped.step))
    parts: list = [None] * world.size
    try:
        torch.distributed.all_gather_object(parts, mine)
    except RuntimeError as e:
        detail = distributed.lost_peer(e)
        if detail is None:
            raise
        raise PeerLost(stopped.step if stopped else 0, _members_snapshot(nets, done, running), detail) from None
    for finished, under_way, _ in parts:
        for k, (weights, summary) in finished.items():
            nets[k].load_state_dict(weights)
            done[k] = summary
        running.update(under_way)
    stops = [p[2] for p in parts if p[2] is not None]
    if stops:
        signum, step = stops[0]
        raise Interrupted(signum if signum is not None else 15, step, _members_snapshot(nets, done, running))
    return _ensemble_result(model, [done[k] for k in range(len(nets))], job)


def _members_resume(snap: Optional[dict[str, Any]], nets: list[nn.Module]) -> tuple[dict[int, dict], dict[int, dict]]:
    """(finished members: index -> summary, their weights loaded into nets; members under way:
    index -> LoopState snapshot) from an ensemble's snapshot: one member at a time (EnsembleState),
    or several at once (_members_snapshot)."""
    if snap is None:
        return {}, {}
    if "members" in snap:
        done = {}
        for k, d in snap["members"]["done"].items():
            nets[int(k)].load_state_dict(d["weights"])
            done[int(k)] = d["result"]
        return done, {int(k): v for k, v in snap["members"]["running"].items()}
    ens = EnsembleState.from_snapshot(snap, nets)
    return dict(enumerate(ens.done)), {ens.member: snap}


def _members_snapshot(nets: list[nn.Module], done: dict[int, dict], running: dict[int, dict]) -> dict[str, Any]:
    """An ensemble's resume state with any set of members finished and under way."""
    return {"members": {"done": {k: {"weights": copy.deepcopy(nets[k].state_dict()), "result": r} for k, r in done.items()},
                        "running": dict(running)}}


def _ensemble_result(model: nn.Module, done: list[dict[str, Any]], job: _Job) -> FitResult:
    return FitResult(
        state_dict=model.state_dict(),
        history=[EvalRecord(**r) for d in done for r in d["history"]],
        best_step=max(d["best_step"] for d in done),
        best_val_loss=evaluate_loss(model, job.data, job.val_idx, job.cfg, job.loss_fn, world=job.world,
                                    own=job.whole is not None),
        steps=sum(d["steps"] for d in done),
        epochs=sum(d["epochs"] for d in done),
        train_seconds=sum(d["train_seconds"] for d in done),
        windows_seen=sum(d["windows_seen"] for d in done),
        stop_reason=collections.Counter(d["stop_reason"] for d in done).most_common(1)[0][0],
        members=done,
    )
