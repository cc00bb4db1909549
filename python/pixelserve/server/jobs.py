"""Where the server computes: off the gRPC threads, on one shared pool of block workers."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
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

    def follow(self, job: Job, function, progress: queue.Queue, respond) -> Generator:
        """Run `function` as `job`; yield respond(message) for each Progress message it puts on
        `progress` (of each phase only the newest, when they come faster than the client takes
        them), then return what `function` returned (`result = yield from runner.follow(...)`)."""
        future = self.submit(job, function)
        future.add_done_callback(lambda _: progress.put(None))
        finished = False
        while not finished:
            waiting = [progress.get()]
            while not progress.empty():
                waiting.append(progress.get_nowait())
            finished = waiting[-1] is None
            messages = [message for message in waiting if message is not None]
            for message, following in zip(messages, messages[1:] + [None]):
                if following is None or following.phase != message.phase:
                    yield respond(message)
        return future.result()

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
