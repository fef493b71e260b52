"""Which series belong to shard i of n, and the row order that makes shards compose.

A series' place depends on nothing but its id's text: the CRC-32 of its UTF-8 bytes, a number in
[0, 2**32). Shard i of n holds the ids whose CRC-32 falls in the i-th of n equal ranges of that
interval, so shards are contiguous runs of one order, the order of (CRC-32, id text): outputs
written in that order concatenate, shard 1 to n, to the one-process output byte for byte, for
every n. `predict --shard i/n`, the ranks of `torchrun ... predict` and `train --shard-data` (by
the id column's text, so the targets of one id stay together) all split the series by this rule.
"""

from __future__ import annotations

import zlib
from typing import Optional

import numpy as np
import pandas as pd

from grucast.data.parse import distinct_text
from grucast.errors import ConfigError

MAX_SHARDS = 2**32  # one CRC-32 value a shard: more shards than that would stay empty forever


def parse(text: Optional[str], flag: str = "--shard") -> Optional[tuple[int, int]]:
    """'i/n' with 1 <= i <= n <= 2**32: the i-th of n shards."""
    if text is None:
        return None
    parts = text.split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{flag} takes i/n, for example 1/4, got '{text}'") from None
    if not 1 <= i <= n:
        raise ConfigError(f"{flag} i/n needs 1 <= i <= n, got '{text}'")
    if n > MAX_SHARDS:
        raise ConfigError(f"{flag} i/n needs n at most {MAX_SHARDS:,} (series are split by a 32-bit hash), "
                          f"got '{text}'")
    return i, n


def codes(ids) -> np.ndarray:
    """[S] uint64: the CRC-32 of every id's text."""
    return np.fromiter((zlib.crc32(str(x).encode("utf-8")) for x in ids), dtype=np.uint64, count=len(ids))


def of(ids, n: int) -> np.ndarray:
    """[S] int64: the 0-based shard of every id among n (its CRC-32's range)."""
    return ((codes(ids) * np.uint64(n)) >> np.uint64(32)).astype(np.int64)


def contains(ids, shard: Optional[tuple[int, int]]) -> np.ndarray:
    """[S] bool: which ids shard (i, n) holds; all of them when shard is None. Each distinct id
    is hashed once, so a column of ten million rows costs a CRC-32 per series, not per row."""
    if shard is None:
        return np.ones(len(ids), dtype=bool)
    i, n = shard
    codes_, distinct = pd.factorize(np.asarray(ids, dtype=object))
    return (of(distinct, n) == i - 1)[codes_]


def rows(ids: pd.Series, shard: tuple[int, int], suffixes: Optional[list[str]] = None) -> np.ndarray:
    """[rows] bool: the rows whose id (its stripped text, as the table takes it) is in shard,
    or, with suffixes, whose id with any of them is; rows without an id go to shard 1, which
    refuses them."""
    codes, text = distinct_text(ids)
    names = text.to_numpy(dtype=object)
    mine = np.zeros(len(names), dtype=bool)
    for suffix in suffixes or [""]:
        mine |= contains(names + suffix if suffix else names, shard)
    keep = np.full(len(ids), shard[0] == 1)
    known = codes >= 0
    keep[known] = mine[codes[known]]
    return keep


def refuse_under_torchrun(shard: Optional[tuple[int, int]], processes: int) -> None:
    """--shard is for schedulers that start the processes themselves: under torchrun every
    process forecasts its own shard already."""
    if shard is not None and processes > 1:
        raise ConfigError(f"--shard {shard[0]}/{shard[1]} under torchrun: each of its {processes} processes forecasts "
                          "its own shard already; leave --shard out")


def order(ids) -> np.ndarray:
    """The permutation that puts ids in shard order: by CRC-32, then by text (two ids with one
    CRC-32 are in the same shard for every n)."""
    text = np.array([str(x) for x in ids], dtype=str) if len(ids) else np.array([], dtype=str)
    return np.lexsort((text, codes(ids)))
