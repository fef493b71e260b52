"""Data-parallel training across processes started by torchrun, with torch.distributed.

grucast does not launch or coordinate processes itself: `torchrun --nproc-per-node N -m grucast
train ...` starts N copies of the command, sets RANK, WORLD_SIZE and LOCAL_RANK (and the
rendezvous) in their environment, and ends them all when one fails. Every rank reads the same
data and resolves the same settings; each step, the global batch of --batch-size windows is cut
into one share per rank, DistributedDataParallel averages the gradients, and the loss is the
global batch's, so the result does not depend on the number of ranks beyond float rounding.
Validation is shared the same way and its sums added up, so early stopping decides alike on
every rank. Only rank 0 writes files or prints; without torchrun (WORLD_SIZE unset or 1) none
of this is used and a run is what it always was.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist

from grucast.errors import ConfigError

# How long a rank waits in a collective for the others before failing: a rank that died or hangs
# ends the job within this time instead of never (torchrun usually ends it sooner).
TIMEOUT_S = 300

# Whether grucast joined the process group (setup), and so leaves it (finish): a group the caller
# made (the Python API under its own init_process_group) stays the caller's.
_JOINED = {"by_grucast": False}


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of one training job."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """More than one rank: the collectives below run."""
        return self.size > 1

    @property
    def main(self) -> bool:
        """The rank that writes files and prints."""
        return self.rank == 0

    def share(self, items: torch.Tensor) -> torch.Tensor:
        """This rank's share of items: every size-th one, from its rank on."""
        return items[self.rank::self.size].contiguous() if self.active else items

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """values added up over the ranks (the same result on every rank)."""
        if self.active:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values


    def sum_async(self, values: torch.Tensor):
        """Start adding values up over the ranks, in place; wait() on the result before reading
        them (a no-op with one rank)."""
        if self.active:
            return dist.all_reduce(values, op=dist.ReduceOp.SUM, async_op=True)
        return _DONE


class _Done:
    def wait(self) -> bool:
        return True


_DONE = _Done()
SINGLE = World()


def from_env() -> World:
    """The world torchrun describes in the environment; one rank without it."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError("WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers (torchrun sets them)") from None
    if size < 1 or not 0 <= rank < size:
        raise ConfigError(f"RANK {rank} is not one of the WORLD_SIZE {size} ranks (torchrun sets them)")
    return World(rank=rank, size=size, local_rank=local)


def setup(device: torch.device) -> tuple[World, torch.device]:
    """The world of this process, its process group joined (gloo on the CPU, nccl on CUDA) when
    there is more than one rank, and the device it trains on: a CUDA rank takes the GPU of its
    local rank."""
    world = from_env()
    if not world.active:
        return world, device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend, timeout = "nccl" if device.type == "cuda" else "gloo", datetime.timedelta(seconds=TIMEOUT_S)
        store = _restart_store(world, timeout)
        if store is None:
            dist.init_process_group(backend, timeout=timeout)
        else:
            dist.init_process_group(backend, store=store, rank=world.rank, world_size=world.size, timeout=timeout)
        _JOINED["by_grucast"] = True
    return world, device


def _restart_store(world: World, timeout: datetime.timedelta):
    """For a torchrun restart (TORCHELASTIC_RESTART_COUNT above 0) whose ranks meet in the
    agent's store: that store under a prefix of this attempt, else None (the default env://
    rendezvous). The agent keeps its store across restarts, and the default keys of the failed
    attempt are still in it: a restarted rank could read a dead rank's address there and fail to
    connect (seen with torch 2.13: 'Gloo connectFullMesh failed ... Connection refused')."""
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0").strip() or "0"
    if attempt == "0" or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world.size, is_master=False,
                          timeout=timeout)
    return dist.PrefixStore(f"grucast/attempt_{attempt}", store)


def finish(world: Optional[World] = None) -> None:
    """Leave the process group grucast joined once every rank has come this far, so that no rank
    exits while another still sends to it (gloo aborts a process that ends with a collective in
    flight), nor with the group alive: gloo's threads then outlive the interpreter, and the
    process may end in SIGABRT ('terminate called without an active exception') after its work
    is done (seen in CI, about one 2-rank training run in a few hundred)."""
    world = from_env() if world is None else world
    if world.active and dist.is_initialized() and _JOINED["by_grucast"]:
        dist.barrier()
        dist.destroy_process_group()
        _JOINED["by_grucast"] = False


def lost_peer(error: BaseException) -> Optional[str]:
    """What a failed collective says, in one short line, when error is one (another rank died,
    stopped answering within TIMEOUT_S or closed its connection); None for any other error,
    which is a bug to show as it is."""
    text = str(error)
    backend = isinstance(error, getattr(dist, "DistError", ())) or any(
        k in text for k in ("gloo", "Gloo", "NCCL", "Connection reset", "Connection closed", "Broken pipe"))
    if not backend:
        return None
    line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    line = line.split("] ", 1)[-1]  # without the source file of the C++ side
    return line.split(". This is typically", 1)[0][:200]


def members_across_ranks(members: int, world: World) -> bool:
    """Whether an ensemble's members train in parallel, member k on rank k mod the number of
    ranks, each by its rank alone, rather than one after another, each by all ranks together:
    when they split evenly over the ranks. Then no step waits for another rank, and each member
    is exactly the network one process trains; otherwise the last round would leave ranks idle."""
    return world.active and members >= world.size and members % world.size == 0


def members_note(members: int, world: World, partitioned: bool = False) -> Optional[str]:
    """The defaults line of an ensemble trained by several ranks (on a panel partitioned over
    them: one member after another, since each rank holds only its own series)."""
    if not world.active or members < 2:
        return None
    if partitioned:
        return (f"ensemble members one after another, each data-parallel over {world.size} processes (default with "
                "--shard-data: each process holds only its own series)")
    if members_across_ranks(members, world):
        return (f"ensemble members in parallel, member k on process k mod {world.size} (default: {members} members "
                f"split evenly over {world.size} processes; each trains alone, as one process trains it)")
    return (f"ensemble members one after another, each data-parallel over {world.size} processes (default: "
            f"{members} members do not split evenly over {world.size} processes)")


def gather_panel(panel, places: dict[str, tuple[int, int]], rows: int, world: World):
    """--shard-data: (the panel of the whole file, its rows) from every rank's panel of its shard
    and the rows it read. The series come in the order one process finds them (places, from
    Table.places: by target, then by the file line each first appears on; by column in a wide
    file), and so do those left out for having no value (Panel.dropped). The ranks must agree
    on the frequency and the covariates: each inferred them from its own series."""
    import numpy as np

    from grucast.data.panel import concat
    from grucast.training.partition import agree

    parts: list = [None] * world.size
    dist.all_gather_object(parts, (panel, places, rows))
    panels = [p[0] for p in parts]
    agree([(p.freq, p.cov_names, sorted(p.static)) for p in panels])
    lines = {k: v for _, fl, _ in parts for k, v in fl.items()}
    whole = concat(panels)
    keys = np.array([lines[str(i)] for i in whole.ids], dtype=np.int64).reshape(-1, 2)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    out = whole.select(order)
    out.n_filled, out.n_empty = whole.n_filled, whole.n_empty
    out.dropped = sorted(whole.dropped, key=lambda i: lines.get(str(i), (0, 0)))
    return out, sum(p[2] for p in parts)


def check_batch(batch_size: int, world: World) -> None:
    """The global batch must split evenly, so every rank's share is the same size and a run's
    batches do not depend on the number of ranks."""
    if world.active and batch_size % world.size:
        raise ConfigError(f"--batch-size {batch_size} does not split evenly over {world.size} processes: "
                          f"use a multiple of {world.size}, e.g. {batch_size - batch_size % world.size or world.size}")


def launch(nproc: int, args: list[str]) -> int:
    """`python -m grucast *args` as nproc ranks on this machine, started by torch's elastic
    launcher as `torchrun --standalone` starts them (a c10d rendezvous on a free local port, no
    restarts), and the exit code the job ends with: that of the rank that failed first by itself
    (the launcher then ends the others), 128 + the signal number for a rank ended by a signal,
    and 128 + the signal for a job stopped by one (SIGTERM: 143, after rank 0 saved
    MODEL.resume); 0 when every rank finished. Without --threads every rank gets its share of the
    cores this process may use."""
    import logging
    import sys
    import uuid

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # The ranks say what went wrong, one line each; the launcher's own log would say it again.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    from grucast.config.machine import usable_cpus

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cpus() // nproc)))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "grucast", *args)
    except ChildFailedError as e:
        # The rank that failed first by itself (a positive exit code): the launcher ends the
        # others with a signal, which is not what went wrong.
        own = [f for f in e.failures.values() if f.exitcode > 0]
        failure = min(own, key=lambda f: f.timestamp) if own else e.get_first_failure()[1]
        code = failure.exitcode
        return code if code > 0 else 128 - code
    except SignalException as e:
        return 128 + int(e.sigval)
    return 0


def without_nproc(argv: list[str]) -> list[str]:
    """argv less its --nproc N / --nproc=N, for the ranks --nproc starts."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out
