"""--shard-data training with the panel partitioned: every rank keeps only the series of its
shard, and what must be global travels as sums or as per-series values.

One process holds the series of a file in one order (Table.places: by target, then by the file
line each first appears on). A Partition is that order known to every rank, with the rank that
holds each series: every rank holds its own series in the same order, so a per-series array of
every rank, put side by side by owner, is the array one process computes (Partition.series). A
training window is named as one process names it, by its start in the layout of the whole panel
(WindowMap), so each epoch's order is drawn once from the seed and every rank takes the windows
of the batch it holds: the batches are those of one process, for any number of ranks.

What a rank holds is its panel and layout (about 1/N of the points), the per-series arrays of
every series (ids, lengths, owners), the epoch's window order (4 bytes a training window while
the layout has under 2^31 points) and, for scoring, the validation windows of every series.
Ensemble members train one after another (each by every rank), not one per rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from grucast.data.panel import Panel
from grucast.errors import ConfigError
from grucast.features.layout import layout_offsets
from grucast.training.distributed import World


@dataclass
class Partition:
    """The series of the whole panel in one process's order, and which rank holds each."""

    world: World
    ids: np.ndarray  # [S] every series' id
    lengths: np.ndarray  # [S] its points on the grid
    owner: np.ndarray  # [S] the rank that holds it
    mine: np.ndarray  # [s] the series this rank holds (ascending): its panel's series, in order
    rows: int = 0  # rows read by every rank together
    dropped: list[str] = field(default_factory=list)  # series with no value, in file order

    @property
    def n_series(self) -> int:
        return len(self.ids)

    def gather(self, obj: Any) -> list[Any]:
        """obj of every rank, by rank."""
        parts: list = [None] * self.world.size
        dist.all_gather_object(parts, obj)
        return parts

    def series(self, local: np.ndarray) -> np.ndarray:
        """[S, ...] the per-series values of every rank in the panel's order, from this rank's
        [s, ...] for its own series."""
        parts = self.gather(np.asarray(local))
        out = np.empty((self.n_series,) + parts[0].shape[1:], dtype=np.result_type(*[p.dtype for p in parts]))
        for rank, p in enumerate(parts):
            out[self.owner == rank] = p
        return out

    def sum(self, values) -> np.ndarray:
        """values (a number or an array) added up over the ranks, as float64."""
        t = torch.as_tensor(np.asarray(values, dtype=np.float64)).clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.numpy()

    def moments(self, col: np.ndarray) -> tuple[float, float]:
        """(mean, standard deviation) of the float64 values col of every rank together, in two
        passes (the sum, then the squared deviations from the mean)."""
        total = self.sum([col.sum(), len(col)])
        mean = float(total[0] / max(total[1], 1.0))
        spread = self.sum((col - mean) @ (col - mean))
        return mean, float(np.sqrt(spread / max(total[1], 1.0)))

    def holds_full_series(self, min_points: int) -> bool:
        """Whether every rank holds a series of at least min_points: one that gives a training
        window without padding, so every rank takes part in the training steps."""
        full = np.bincount(self.owner[self.lengths >= min_points], minlength=self.world.size)
        return bool((full > 0).all())


def split(panel: Panel, places: dict[str, tuple[int, int]], rows: int, world: World) -> tuple[Panel, Partition]:
    """This rank's panel of its shard, put in the whole panel's order, and the Partition of the
    panel over the ranks. The ranks must agree on the frequency and covariates (each inferred
    them from its own series)."""
    keys = _keys(panel.ids, places)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    if (order != np.arange(len(order))).any():
        panel = panel.select(order)
        keys = keys[order]
    lines = {str(d): places.get(str(d), (0, 0)) for d in panel.dropped}
    parts: list = [None] * world.size
    dist.all_gather_object(parts, (panel.ids, panel.lengths, keys, rows, panel.freq, panel.cov_names,
                                   sorted(panel.static), lines))
    agree([(p[4], p[5], p[6]) for p in parts])
    every = np.concatenate([p[2] for p in parts]).reshape(-1, 2)
    owner = np.concatenate([np.full(len(p[0]), r, dtype=np.int64) for r, p in enumerate(parts)])
    order = np.lexsort((every[:, 1], every[:, 0]))
    owner = owner[order]
    ids = np.concatenate([p[0] for p in parts])[order]
    lengths = np.concatenate([p[1] for p in parts]).astype(np.int64)[order]
    dropped = {k: v for p in parts for k, v in p[7].items()}
    return panel, Partition(world=world, ids=ids, lengths=lengths, owner=owner,
                            mine=np.flatnonzero(owner == world.rank), rows=sum(p[3] for p in parts),
                            dropped=sorted(dropped, key=dropped.get))


def _keys(ids: np.ndarray, places: dict[str, tuple[int, int]]) -> np.ndarray:
    return np.array([places[str(i)] for i in ids], dtype=np.int64).reshape(-1, 2)


def agree(shards: list[tuple[Any, tuple, list]]) -> None:
    """Every rank's (frequency, covariate names, static columns) must be rank 0's."""
    freq, covs, static = shards[0]
    for rank, (f, c, s) in enumerate(shards[1:], start=1):
        if f != freq:
            raise ConfigError(f"the shards of the data have different frequencies ({freq.name or 'steps'} on "
                              f"process 0, {f.name or 'steps'} on process {rank}): leave --shard-data out")
        if c != covs or s != static:
            raise ConfigError(f"the shards of the data have different covariates on process 0 and process {rank}")


BLOCK = 1 << 20  # windows mapped at once (WindowMap.starts)


@dataclass
class WindowMap:
    """The training and validation windows of a partitioned panel, named as one process names
    them (their start in the layout of the whole panel), and this rank's among them."""

    part: Partition
    bounds: np.ndarray  # [S + 1] layout offsets of the whole panel
    counts: np.ndarray  # [S] training windows of every series
    first: np.ndarray  # [S + 1] the first training window ordinal of every series
    local_bounds: np.ndarray  # [s + 1] layout offsets of this rank's layout
    val_windows: int  # validation windows of the whole panel
    local: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [S] index in this rank's panel (its series)

    @classmethod
    def of(cls, part: Partition, pad: int, local_bounds: np.ndarray, L: int, H: int, V: int) -> "WindowMap":
        """As features.windows.split_windows lays them out over every series."""
        span = part.lengths + pad
        bounds = layout_offsets(part.lengths, pad)
        counts = np.maximum(span - V - L - H + 1, 0)
        first = np.zeros(part.n_series + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        first_end = np.maximum(span - V, L)
        val = int(np.maximum(span - H - first_end + 1, 0).sum())
        local = np.zeros(part.n_series, dtype=np.int64)
        local[part.mine] = np.arange(len(part.mine))  # read only for this rank's series (mine())
        return cls(part=part, bounds=bounds, counts=counts, first=first, local_bounds=np.asarray(local_bounds),
                   val_windows=val, local=local)

    @property
    def windows(self) -> int:
        """Training windows of the whole panel."""
        return int(self.first[-1])

    def starts(self, ordinals: torch.Tensor) -> torch.Tensor:
        """Whole-panel layout starts of training windows by ordinal (0 .. windows - 1, in the
        order split_windows gives them): int32 where the layout allows, worked out a block at a
        time, so that only the result is as long as the epoch."""
        o = ordinals.numpy()
        out = np.empty(len(o), dtype=np.int32 if self.bounds[-1] < 2 ** 31 else np.int64)
        for i in range(0, len(o), BLOCK):
            block = o[i:i + BLOCK]
            s = np.searchsorted(self.first, block, side="right") - 1
            out[i:i + BLOCK] = self.bounds[s] + (block - self.first[s])
        return torch.from_numpy(out)

    def mine(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's windows among whole-panel starts: (their places among starts, their
        starts in this rank's own layout), in order."""
        g = starts.cpu().numpy()
        s = np.searchsorted(self.bounds, g, side="right") - 1
        places = np.flatnonzero(self.part.owner[s] == self.part.world.rank)
        s = s[places]
        out = self.local_bounds[self.local[s]] + (g[places] - self.bounds[s])
        return torch.from_numpy(places).to(starts.device), torch.from_numpy(out).to(starts.device)


def first_last(part: Partition, first: Any, last: Any) -> tuple[Any, Any]:
    """The earliest of every rank's first time and the latest of their last times."""
    parts = part.gather((first, last))
    return min(p[0] for p in parts), max(p[1] for p in parts)
