"""Where the server computes: off the gRPC threads, on one shared pool of block workers."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from ..blocks import Cancelled

__all__ = ["Cancelled", "Job", "JobRunner"]


class Job:
    """One request's computation; `cancel()` stops it between blocks."""

    def __init__(self, name: str):
        self.name = name
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()


class JobRunner:
    """Jobs run on `workers` driver threads; their blocks on one pool of `threads` threads.

    Every job keeps at most 2 x threads blocks queued in the shared pool, so a small job's
    blocks queue behind only a few of a huge job's: it never waits for the whole huge job.
    """

    def __init__(self, workers: int, threads: int):
        self.threads = max(1, threads)
        self._drivers = ThreadPoolExecutor(max(1, workers), thread_name_prefix="pixelserve-job")
        self._blocks = ThreadPoolExecutor(self.threads, thread_name_prefix="pixelserve-block")
        self._jobs: set[Job] = set()
        self._lock = threading.Lock()

    def submit(self, job: Job, function, *args) -> Future:
        with self._lock:
            self._jobs.add(job)
        future = self._drivers.submit(function, *args)
        future.add_done_callback(lambda _: self._forget(job))
        return future

    def block_options(self, job: Job) -> dict:
        """Keyword arguments for pixelserve.blocks.map_blocks (via export_to_array)."""
        return {"threads": self.threads, "pool": self._blocks, "cancel": job.cancelled}

    def _forget(self, job: Job) -> None:
        with self._lock:
            self._jobs.discard(job)

    def running(self) -> int:
        with self._lock:
            return len(self._jobs)

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()

    def shutdown(self) -> None:
        self.cancel_all()
        self._drivers.shutdown(wait=True, cancel_futures=True)
        self._blocks.shutdown(wait=True, cancel_futures=True)
