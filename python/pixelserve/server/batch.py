"""BatchService: `pixelserve --headless` over a folder of files on the server. The files run
through the command line's own batch loop (headless/batch.py: open every file first, then
one after another, a failed file does not stop the others, the tables of the whole run at
the end), so the files written are the command line's; the server reads every input and
writes every output, and all of them must lie inside its allowed roots."""

from __future__ import annotations

import fnmatch
import logging
import os
import queue
from dataclasses import dataclass, replace

from .. import protocol
from ..blocks import Cancelled
from ..errors import UserError
from ..export import writer_class
from ..headless.batch import BatchOutcome, open_lanes, run_lanes
from ..headless.batch_plan import plan_batch
from ..headless.lanes import HeadlessJob, LaneOutcome, LaneSpec
from ..headless.progress import BatchProgress
from ..headless.run import settings_over_defaults
from ..workflows import Workflow, parse_options
from .jobs import Job
from .prediction import export_choices, progress_of

logger = logging.getLogger(__name__)


class BatchServicer(protocol.batch_grpc.BatchServiceServicer):
    def __init__(self, server):
        self.server = server  # the Server: path policy, project cache, job runner

    def RunBatch(self, request, context):
        folder = self.server.resolve_file(request.folder, "input folder")
        if not os.path.isdir(folder):
            raise UserError(f"The input folder {request.folder!r} is a file ({folder}): give the folder that holds "
                            "the images, and a pattern for their names")
        paths = self._files(folder, request.pattern or "*")
        yield protocol.batch.BatchResponse(files=protocol.batch.BatchFiles(paths=paths))
        yield protocol.batch.BatchResponse(progress=progress_of(0, 0, "loading project"))
        project = self.server.load_project(request.project)
        workflow = project.workflow
        job = _headless_job(request, workflow, str(project.path), folder)
        axes = request.input_axes.lower() or None
        lanes = [LaneSpec(((workflow.input_roles[0].name, path, axes, None),)) for path in paths]  # scale None: the one ilastik reads

        run = Job(f"batch of {len(paths)} files in {folder}")
        context.add_callback(run.cancel)
        updates: queue.Queue = queue.Queue()
        threads = self.server.jobs.threads

        def process() -> _StreamedOutcome:
            # Files of a lane's own formats (tracking's export plugins) are written outside the
            # export pipeline, where the outputs could not be checked against the roots.
            opened = open_lanes(workflow, job, lanes, check_files=self._check_files,
                                check=lambda lane: lane.result.check_gives_results(job.export_source))
            outcome = _StreamedOutcome(lanes, BatchProgress(opened.pixels(), enabled=False), updates, run,
                                       self.server.paths)
            # One file after another: the server's threads compute each file's blocks.
            blocks = self.server.jobs.block_options(run)   # the server's shared threads, and the cancel
            run_lanes(workflow, job, lanes, opened, plan_batch(list(opened.costs.values()), threads, 1), outcome,
                      pool=blocks["pool"], cancel=blocks["cancel"])
            return outcome

        try:
            outcome = yield from self.server.jobs.follow(run, process, updates, lambda update: update.response)
        except Cancelled:
            logger.info("%s: cancelled by the client", run.name)
            return
        logger.info("%s: %d written, %d failed", run.name, len(outcome.outcomes), len(outcome.failures))
        yield protocol.batch.BatchResponse(summary=protocol.batch.BatchSummary(
            files=len(paths), written=len(outcome.outcomes), failed=len(outcome.failures),
            exit_code=outcome.exit_code(), run_tables=outcome.run_tables))

    def _check_files(self, lane: LaneSpec) -> None:
        """A file that makes its reader open files outside the roots (HDF5 links, external
        storage, symbolic links inside N5 or zarr folders) fails, before it is opened; a
        damaged one that cannot be checked fails too, as it would when read."""
        for _, path, _, _ in lane.inputs:
            self.server.paths.check_file(path, os.path.basename(path), "input file")

    def _files(self, folder: str, pattern: str) -> list[str]:
        """The folder's entries that the pattern names: files, and folders with an extension
        (datasets such as volume.zarr); never hidden ones (unfinished outputs are hidden)."""
        paths = []
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if name.startswith(".") or not fnmatch.fnmatch(name, pattern):
                continue
            if os.path.isfile(path) or (os.path.isdir(path) and os.path.splitext(name)[1]):
                self.server.paths.check_inside(path, path, "input file")  # a symlink may lead out
                paths.append(path)
        if not paths:
            raise UserError(f"No file in {folder} matches {pattern!r}: check the folder and the pattern "
                            "(a shell pattern of file names, e.g. '*.tif')")
        return paths


def _headless_job(request, workflow: Workflow, project: str, folder: str) -> HeadlessJob:
    """The settings of the run, as the command line would take them from the same flags; a
    relative output name is relative to the input folder, as there is no working directory."""
    given = export_choices(request.export_settings)
    given.update(output_format=request.output_format, output_filename_format=request.output_filename_format,
                 output_internal_path=request.output_internal_path)
    settings = settings_over_defaults(workflow, given)
    if writer_class(settings.output_format).remote:
        raise UserError(f"A batch on the server writes files inside its allowed roots, not to "
                        f"{settings.output_format!r}: choose a file format, e.g. tif or hdf5")
    settings = replace(settings, output_filename_format=_in_folder(settings.output_filename_format, folder))
    options = parse_options(workflow.options, dict(request.export_settings.options))
    for option in workflow.options:
        if option.kind == "path" and options[option.name]:
            options[option.name] = _in_folder(options[option.name], folder)
    return HeadlessJob(
        project=project, structure_tensor_order=None,
        export_source=workflow.resolve_export_source(request.export_settings.export_source or None),
        settings=settings, stack_along="z", options=tuple(options.items()),
        table_only=request.export_settings.table_only,
    )


def _in_folder(template: str, folder: str) -> str:
    if os.path.isabs(os.path.expanduser(template)) or template.startswith("{dataset_dir}"):
        return template
    return os.path.join(folder, template)


@dataclass(frozen=True)
class _Update:
    """A response for JobRunner.follow, which passes on only the newest of consecutive
    updates with the same `phase`: the folder's progress collapses, file outcomes never."""

    phase: str
    response: object


class _StreamedOutcome(BatchOutcome):
    """The batch loop's events as BatchResponses; stops the run when the client cancels, and
    refuses outputs outside the allowed roots before they are created."""

    def __init__(self, lanes: list[LaneSpec], progress: BatchProgress, updates: queue.Queue, run: Job, paths):
        super().__init__(lanes, progress)
        self.updates = updates
        self.run = run
        self.paths = paths
        self.total = max(1, sum(progress.lane_pixels))

    def progress(self, index: int, done: int, total: int) -> None:
        if self.run.cancelled.is_set():
            raise Cancelled()  # export_result deletes what it had begun
        super().progress(index, done, total)
        phase = f"file {index + 1} of {len(self.lanes)}: {os.path.basename(self.lanes[index].label)}"
        self.updates.put(_Update("progress", protocol.batch.BatchResponse(
            progress=progress_of(self.progress_bar.pixels_done(), self.total, phase))))

    def writing(self, temp_paths: list[str]) -> None:
        for folder in dict.fromkeys(os.path.dirname(path) for path in temp_paths):
            self.paths.check_inside(folder, folder, "output folder")

    def say(self, line: str) -> None:
        logger.debug("%s", line)

    def finished(self, index: int, outcome: LaneOutcome) -> None:
        super().finished(index, outcome)
        self._report(index, written=outcome.written)

    def failed(self, index: int, reason: str, user_error: bool) -> None:
        super().failed(index, reason, user_error)
        self._report(index, error=reason, user_error=user_error)

    def _report(self, index: int, **outcome) -> None:
        message = protocol.batch.FileOutcome(index=index, path=self.lanes[index].label, **outcome)
        self.updates.put(_Update(f"file {index}", protocol.batch.BatchResponse(file=message)))
