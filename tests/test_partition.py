"""A panel partitioned over ranks (--shard-data training, training.partition): each rank finds,
among the windows of the whole panel as one process names them, exactly its own, at the places
in its own layout that hold the same points. Index arithmetic only, so no process group is
needed here; tests/test_distributed.py trains through torchrun."""

import numpy as np
import pytest
import torch

from grucast.features.layout import layout_offsets
from grucast.features.windows import gather, split_windows
from grucast.training.distributed import World
from grucast.training.partition import Partition, WindowMap


def laid_out(lengths: np.ndarray, pad: int, series: np.ndarray) -> np.ndarray:
    """Layout values that name their point: series id x 10^6 + position in the series (padding -1)."""
    offsets = layout_offsets(lengths, pad)
    values = np.full(int(offsets[-1]), -1.0)
    for i, (n, s) in enumerate(zip(lengths, series)):
        values[offsets[i] + pad:offsets[i + 1]] = s * 1e6 + np.arange(n)
    return values


@pytest.mark.parametrize("seed", range(6))
def test_every_rank_takes_its_own_windows_of_every_batch_at_the_same_points(seed):
    rng = np.random.default_rng(seed)
    S, size = int(rng.integers(1, 40)), int(rng.integers(1, 5))
    L, H, V, pad = int(rng.integers(1, 12)), int(rng.integers(1, 6)), int(rng.integers(1, 8)), int(rng.integers(0, 4))
    lengths = rng.integers(1, 60, S).astype(np.int64)
    owner = rng.integers(0, size, S)
    whole_values = laid_out(lengths, pad, np.arange(S))
    train, val = split_windows(layout_offsets(lengths, pad), L, H, V)
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    taken = 0
    for rank in range(size):
        mine = np.flatnonzero(owner == rank)
        part = Partition(world=World(rank=rank, size=size), ids=np.arange(S).astype(str), lengths=lengths,
                         owner=owner, mine=mine)
        local_bounds = layout_offsets(lengths[mine], pad)
        whole = WindowMap.of(part, pad, local_bounds, L, H, V)
        assert whole.windows == len(train) and whole.val_windows == len(val)
        starts = whole.starts(perm)  # an epoch's order, as one process draws it
        np.testing.assert_array_equal(starts.numpy(), train[perm.numpy()])
        places, local = whole.mine(starts)
        # the rank's windows, in the epoch's order, are the windows its own layout gives
        own = np.isin(np.searchsorted(layout_offsets(lengths, pad), starts.numpy(), side="right") - 1, mine)
        np.testing.assert_array_equal(places.numpy(), np.flatnonzero(own))
        local_train = split_windows(local_bounds, L, H, V)[0]
        assert sorted(local.tolist()) == sorted(local_train.tolist())
        # ... and read the same points there
        local_values = laid_out(lengths[mine], pad, mine)
        span = L + H
        np.testing.assert_array_equal(gather(local_values, local.numpy(), span),
                                      gather(whole_values, starts.numpy()[own], span))
        taken += len(local)
    assert taken == len(train)  # every window of the batch went to exactly one rank


def test_a_rank_holding_no_full_series_is_found():
    lengths = np.array([50, 10, 50, 8])
    part = Partition(world=World(rank=0, size=2), ids=np.array(["a", "b", "c", "d"]), lengths=lengths,
                     owner=np.array([0, 1, 0, 1]), mine=np.array([0, 2]))
    assert not part.holds_full_series(30)
    assert part.holds_full_series(10)
