"""The files of one `pixelserve --headless` call: several at a time, each in its own worker
process, as many as the threads and the memory allow (batch_plan.py); one file, one thread
or `--parallel_files=1` run in this process, one after another.

A file that fails does not stop the others. At the end a summary lists every failed file
with its reason, and the exit code says what kind of failures there were:
  0  every file was written;
  2  some failed, all for bad input (a UserError: the message says the fix);
  1  some failed otherwise (a bug, a killed worker): those are worth a report.
A single file keeps the one-line error of docs/headless.md and the same exit codes.

Ctrl-C and SIGTERM stop everything and leave no partial output: exports write under
temporary names and rename when complete, and delete those files when interrupted. The
signals are acted on at safe points (interrupts.py), which the caller sets up.
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass

from ..blocks import Cancelled
from . import interrupts
from .batch_plan import BatchPlan, LaneCost, lane_cost, plan_batch
from .lanes import HeadlessJob, LaneOutcome, LaneSpec, export_lane, open_lane, process_lane, write_run_tables
from .output_names import lane_outputs, refuse_shared_outputs
from .progress import BatchProgress
from .worker_pool import describe_failure, run_in_workers

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


@dataclass
class Failure:
    label: str
    reason: str
    user_error: bool


class BatchOutcome:
    """What happened to each lane; receives the events of the serial loop and the workers."""

    def __init__(self, lanes: list[LaneSpec], progress: BatchProgress):
        self.lanes = lanes
        self.progress_bar = progress
        self.failures: dict[int, Failure] = {}
        self.outcomes: dict[int, LaneOutcome] = {}
        self.run_tables: list[str] = []

    def progress(self, index: int, done: int, total: int) -> None:
        self.progress_bar.lane(index, done, total)

    def finished(self, index: int, outcome: LaneOutcome) -> None:
        self.outcomes[index] = outcome
        self.progress_bar.lane_finished(index)
        for line in [f"Wrote {path}" for path in outcome.written] + outcome.summary():
            self.say(line)

    def say(self, line: str) -> None:
        """A line for the log (files written, a lane's summary rows)."""
        self.progress_bar.print(line)

    def writing(self, temp_paths: list[str]) -> None:
        """A lane is about to create these files (export_result's before_writing); raising
        stops that lane before anything exists."""

    def write_run_tables(self) -> None:
        """The tables with one file for the whole run (rows of every lane, in lane order)."""
        self.run_tables = write_run_tables([self.outcomes[i] for i in sorted(self.outcomes)],
                                           before_writing=self.writing)
        for path in self.run_tables:
            self.say(f"Wrote {path}")

    def failed(self, index: int, reason: str, user_error: bool) -> None:
        self.failures[index] = Failure(self.lanes[index].label, reason, user_error)
        self.progress_bar.lane_finished(index)

    def exit_code(self) -> int:
        if not self.failures:
            return EXIT_OK
        if all(failure.user_error for failure in self.failures.values()):
            return EXIT_BAD_INPUT
        return EXIT_INTERNAL

    def print_summary(self) -> None:
        by_table: dict[str, list[str]] = {}
        for index in sorted(self.outcomes):
            for table in self.outcomes[index].run_tables:
                by_table.setdefault(table.name, []).extend(table.row_text(r) for r in range(table.rows))
        for name, lines in by_table.items():
            print(f"pixelserve: {name} of {len(self.outcomes)} files:", file=sys.stderr)
            for line in lines:
                print(f"  {line}", file=sys.stderr)
        if not self.failures:
            return
        print(f"pixelserve: {len(self.failures)} of {len(self.lanes)} files failed:", file=sys.stderr)
        for index in sorted(self.failures):
            failure = self.failures[index]
            print(f"  {failure.label}: {failure.reason}", file=sys.stderr)


def run_batch(workflow, job: HeadlessJob, lanes: list[LaneSpec], *, threads: int,
              parallel_files: int) -> int:
    """Export every lane; returns the exit code (see the module docstring)."""
    interrupts.check()  # a signal while the project loaded
    if len(lanes) == 1:
        return _run_single(workflow, job, lanes[0], threads)
    return _run_several(workflow, job, lanes, threads, parallel_files)


def _run_single(workflow, job: HeadlessJob, lane: LaneSpec, threads: int) -> int:
    """One file, in this process; an error propagates to the CLI's one-line message."""
    opened = open_lane(workflow, job, lane, threads=threads)
    with BatchProgress([lane_cost(opened.result.image).pixels]) as progress:
        outcome = BatchOutcome([lane], progress)
        outcome.finished(0, export_lane(opened, job, threads=threads,
                                        progress=interrupts.checking(progress.lane_callback(0))))
        outcome.write_run_tables()
    return EXIT_OK


def _run_several(workflow, job: HeadlessJob, lanes: list[LaneSpec], threads: int,
                 parallel_files: int) -> int:
    opened = open_lanes(workflow, job, lanes)
    plan = plan_batch(list(opened.costs.values()), threads, parallel_files)
    print(f"pixelserve: processing {len(lanes)} files, {plan.workers} at a time "
          f"({plan.threads_per_worker} thread{'s' if plan.threads_per_worker > 1 else ''} each)",
          file=sys.stderr, flush=True)
    with BatchProgress(opened.pixels()) as progress:
        outcome = BatchOutcome(lanes, progress)
        run_lanes(workflow, job, lanes, opened, plan, outcome)
    outcome.print_summary()
    return outcome.exit_code()


@dataclass
class OpenedLanes:
    """What opening every lane found: the cost of each lane that opened, and why the others
    did not (reason, whether it is the input's fault)."""

    costs: dict[int, LaneCost]
    failures: dict[int, tuple[str, bool]]
    count: int

    def pixels(self) -> list[int]:
        """Each lane's weight in the progress: its pixels; 0 for a lane that did not open."""
        return [self.costs[i].pixels if i in self.costs else 0 for i in range(self.count)]


def open_lanes(workflow, job: HeadlessJob, lanes: list[LaneSpec], *, check=None, check_files=None) -> OpenedLanes:
    """Open every lane first; this reads only headers: it finds bad files before any work,
    gives each file's size for the plan and the progress bar, and refuses (UserError) a run
    in which two files would be written to the same place. `check_files(lane)` may refuse a
    lane (by raising) before its files are opened, `check(opened_lane)` before any work."""
    costs: dict[int, LaneCost] = {}
    failures: dict[int, tuple[str, bool]] = {}
    outputs = {}
    for index, lane in enumerate(lanes):
        interrupts.check()
        try:
            if check_files is not None:
                check_files(lane)
            opened = open_lane(workflow, job, lane)
            if check is not None:
                check(opened)
            costs[index] = lane_cost(opened.result.image)
            outputs[index] = (lane, lane_outputs(job, opened), opened.placeholders)
        except Exception as error:
            if job.debug:
                traceback.print_exc()
            failures[index] = describe_failure(error)
            costs.pop(index, None)
    refuse_shared_outputs(outputs)
    return OpenedLanes(costs, failures, len(lanes))


def run_lanes(workflow, job: HeadlessJob, lanes: list[LaneSpec], opened: OpenedLanes, plan: BatchPlan,
              outcome: BatchOutcome, *, pool=None, cancel=None) -> None:
    """Export the lanes that opened on the plan's workers, then the tables of the whole run;
    every lane's fate goes to `outcome`. The command line and the server's BatchService
    both run their lanes through here; the server computes one lane at a time with its
    shared block `pool` and the run's `cancel` event."""
    for index, (reason, user_error) in opened.failures.items():
        outcome.failed(index, reason, user_error)
    if plan.workers > 1:
        # Biggest first: a big file started last would leave the other workers idle.
        order = sorted(opened.costs, key=lambda i: -opened.costs[i].pixels)
        run_in_workers(workflow, job, [(i, lanes[i]) for i in order], plan, outcome)
    else:
        _run_serially(workflow, job, lanes, sorted(opened.costs), plan.threads_per_worker, outcome, pool, cancel)
    outcome.write_run_tables()


def _run_serially(workflow, job: HeadlessJob, lanes: list[LaneSpec], indices: list[int],
                  threads: int, outcome: BatchOutcome, pool=None, cancel=None) -> None:
    for index in indices:
        try:
            progress = interrupts.checking(lambda done, total, index=index: outcome.progress(index, done, total))
            finished = process_lane(workflow, job, lanes[index], threads=threads, progress=progress,
                                    before_writing=outcome.writing, pool=pool, cancel=cancel)
        except Cancelled:  # the caller stopped the run (the server's client went away)
            raise
        except Exception as error:  # KeyboardInterrupt is no Exception: it stops the run
            if job.debug:
                traceback.print_exc()
            outcome.failed(index, *describe_failure(error))
        else:
            outcome.finished(index, finished)
