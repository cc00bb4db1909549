"""How many files a batch runs at once: as many as the threads allow, fewer when the memory
budget cannot hold that many worker processes.

Memory of one worker process = its fixed cost (interpreter, libraries, the loaded project:
measured as this process's own resident size after loading the project, since every worker
holds the same; a worker forked from this process shares part of it, so this errs on the
safe side) + what a lane-wide result holds for its lane (`lane_bytes`) + for each of its
threads, one block being computed (`block_working_bytes` of the result source) and two
finished blocks waiting to be written (the export pipeline keeps at most 2 x threads blocks
in flight).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from ..errors import UserError
from ..export import ResultSource

logger = logging.getLogger(__name__)

# Share of MemAvailable a batch may plan to use by default: the rest is headroom for the page
# cache, other programs, and estimates that run low.
AVAILABLE_SHARE = 0.8


@dataclass(frozen=True)
class LaneCost:
    """What one lane costs: its pixel count (for progress), memory per thread, and memory
    for the lane as a whole."""

    pixels: int
    bytes_per_thread: int
    lane_bytes: int = 0


@dataclass(frozen=True)
class BatchPlan:
    workers: int
    threads_per_worker: int
    reason: str  # why this many, for --debug and the docs' examples


def lane_cost(source: ResultSource | None) -> LaneCost:
    """The cost of computing `source`, from its shape and blocks (None: a lane of tables only)."""
    if source is None:
        return LaneCost(pixels=1, bytes_per_thread=0)
    shape = dict(zip(source.axes, source.shape))
    pixels = math.prod(shape.get(axis, 1) for axis in "tzyx")
    finished_block = math.prod(source.block_shape) * source.dtype.itemsize
    return LaneCost(pixels=pixels, bytes_per_thread=source.block_working_bytes() + 2 * finished_block,
                    lane_bytes=source.lane_bytes())


def memory_budget() -> tuple[int | None, str]:
    """(bytes a batch may use, where that number comes from); None when unknown.

    LAZYFLOW_TOTAL_RAM_MB, as in ilastik, else a share of the kernel's MemAvailable."""
    configured = os.environ.get("LAZYFLOW_TOTAL_RAM_MB", "").strip()
    if configured:
        try:
            megabytes = float(configured)
        except ValueError:
            megabytes = -1
        if megabytes <= 0:
            raise UserError(f"LAZYFLOW_TOTAL_RAM_MB={configured!r} is not a positive number of "
                            "megabytes. Fix: e.g. LAZYFLOW_TOTAL_RAM_MB=8000, or unset it.")
        return int(megabytes * 2**20), f"LAZYFLOW_TOTAL_RAM_MB={configured}"
    available = _available_memory()
    if available is None:
        return None, "memory unknown"
    return int(available * AVAILABLE_SHARE), f"{AVAILABLE_SHARE:.0%} of available memory"


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # other Unixes: free pages only (no page cache), an underestimate
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def own_resident_bytes() -> int:
    """This process's resident size (0 when the system does not tell)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux/BSD: KiB
    except (ImportError, OSError):
        return 0


def choose_workers(files: int, threads: int, *, requested: int, budget: int | None,
                   process_bytes: int, bytes_per_thread: int) -> BatchPlan:
    """The number of worker processes and the threads each gets.

    `requested` > 0 (--parallel_files) is taken as given, up to the number of files. Else
    the most workers, at most one per thread and per file, whose total estimate fits the
    budget: workers x (process_bytes + threads each x bytes_per_thread); this process is
    one of the workers. One worker means running in this process, as a single file does,
    with all threads, whatever the budget says (ilastik never refuses to run for lack of
    memory either)."""
    files, threads = max(1, files), max(1, threads)
    if requested > 0:
        workers = min(requested, files)
        return BatchPlan(workers, max(1, threads // workers), f"--parallel_files={requested}")
    most = min(files, threads)
    if most <= 1:
        return BatchPlan(1, threads, "one file" if files == 1 else "one thread")
    if budget is None:
        return BatchPlan(most, threads // most, "one per thread (memory unknown)")
    for workers in range(most, 1, -1):
        each = threads // workers
        needed = workers * (process_bytes + each * bytes_per_thread)
        if needed <= budget:
            reason = (f"one per thread; estimated {needed / 2**20:.0f} MB of a "
                      f"{budget / 2**20:.0f} MB budget")
            return BatchPlan(workers, each, reason if workers == most else
                             f"memory: estimated {needed / 2**20:.0f} MB of a "
                             f"{budget / 2**20:.0f} MB budget")
    return BatchPlan(1, threads, f"memory: 2 workers would need more than the "
                                 f"{budget / 2**20:.0f} MB budget")


def plan_batch(costs: list[LaneCost], threads: int, requested: int) -> BatchPlan:
    """The plan for lanes of these costs: the biggest lane sets the memory per thread."""
    if requested > 0 or len(costs) <= 1 or threads <= 1:
        return choose_workers(len(costs), threads, requested=requested, budget=None,
                              process_bytes=0, bytes_per_thread=0)
    budget, source = memory_budget()
    process_bytes = own_resident_bytes() + max(cost.lane_bytes for cost in costs)
    per_thread = max(cost.bytes_per_thread for cost in costs)
    plan = choose_workers(len(costs), threads, requested=0, budget=budget,
                          process_bytes=process_bytes, bytes_per_thread=per_thread)
    logger.info("Batch plan: %d worker(s) x %d thread(s) (%s); budget from %s; per process "
                "%.0f MB + %.0f MB per thread", plan.workers, plan.threads_per_worker,
                plan.reason, source, process_bytes / 2**20, per_thread / 2**20)
    return plan
