"""Limits that depend on this machine: CPU threads and memory, checked before any work."""

from __future__ import annotations

import os
from typing import Optional

from grucast.config.flags import label
from grucast.errors import ConfigError

MAX_THREADS_PER_CPU = 4  # --threads: at most this many per CPU core of the machine


def cpu_count() -> int:
    return os.cpu_count() or 1


def usable_cpus() -> int:
    """The CPU cores this process may run on: fewer than the machine's under taskset, a
    container's cpuset or a Slurm allocation (the scheduler's affinity mask)."""
    try:
        return len(os.sched_getaffinity(0)) or cpu_count()
    except (AttributeError, OSError):  # no affinity on this platform
        return cpu_count()


def max_threads() -> int:
    """The most CPU threads a run may ask for on this machine."""
    return MAX_THREADS_PER_CPU * cpu_count()


def check_threads(where: str, threads: Optional[int]) -> None:
    """ConfigError unless threads is None or a whole number from 1 to max_threads(): torch tries
    to start as many as asked and runs out of memory long before 100,000."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise ConfigError(f"{label(where)} must be a whole number, got {threads!r}")
    if threads < 1:
        raise ConfigError(f"{label(where)} must be positive, got {threads}")
    if threads > max_threads():
        n = cpu_count()
        raise ConfigError(
            f"{label(where)} is {threads:,}, but this machine has {n} CPU core{'s' if n != 1 else ''} and grucast "
            f"runs at most {max_threads():,} threads ({MAX_THREADS_PER_CPU} per core): use --threads {n} or fewer, "
            "or leave it out for torch's default"
        )


def machine_memory() -> Optional[int]:
    """Bytes of physical memory of this machine; None where the system does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} bytes"


def check_memory(what: str, need: int, hint: str) -> None:
    """ConfigError when an estimate of the memory something needs exceeds this machine's
    physical memory: a clear line before the allocation rather than the OOM killer after it."""
    total = machine_memory()
    if total is not None and need > total:
        raise ConfigError(f"{what} would need about {format_bytes(need)} of memory, more than this machine's "
                          f"{format_bytes(total)}; {hint}")
