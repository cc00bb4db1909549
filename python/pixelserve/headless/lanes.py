"""One lane of a headless run: what every lane shares (the job), one lane as given on the
command line, and opening, computing and exporting it. The serial loop, the worker processes
and the remote run all use these."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..export import ExportSettings, ResultKind, export_result
from ..export.tables import Table, write_table
from ..io import open_dataset
from ..io.chunk_stores import is_http_url
from ..workflows import LaneRequest, LaneResult, Workflow


@dataclass(frozen=True)
class HeadlessJob:
    """What every lane of one run shares. Picklable: worker processes rebuild the run from it."""

    project: str
    structure_tensor_order: str | None
    export_source: str
    settings: ExportSettings
    stack_along: str
    ignore_training_axistags: bool = False
    options: tuple[tuple[str, object], ...] = ()  # the workflow's own options, parsed
    table_only: bool = False
    debug: bool = False
    block_local: bool = False  # --distributed: every block computed on its own

    @property
    def request(self) -> LaneRequest:
        return LaneRequest(self.export_source, image=not self.table_only, options=dict(self.options),
                           block_local=self.block_local)


@dataclass(frozen=True)
class LaneSpec:
    """One lane as given on the command line: (role, file spec, --input_axes, --input_scale)
    per role."""

    inputs: tuple[tuple[str, str, str | None, str | None], ...]

    @property
    def label(self) -> str:
        """How messages name the lane: its raw data as the user wrote it."""
        return self.inputs[0][1]


@dataclass
class OpenLane:
    result: LaneResult
    placeholders: dict


@dataclass
class LaneOutcome:
    """What a lane left: the files it wrote, and its rows of the run's tables (written once
    the run ends, in lane order, where a file was asked for; shown in the log either way)."""

    written: list[str] = field(default_factory=list)
    run_tables: list[Table] = field(default_factory=list)

    def summary(self) -> list[str]:
        """The lane's rows of the run's tables as log lines, e.g. '2d3c: count 29.87'."""
        return [table.row_text(row) for table in self.run_tables for row in range(table.rows)]


def open_lane(workflow: Workflow, job: HeadlessJob, lane: LaneSpec, *, threads: int = 1) -> OpenLane:
    """The lane's results (blocks sized for `threads` threads) and output-name placeholders;
    reads only file headers."""
    datasets = {role: (open_dataset(spec, stack_along=job.stack_along, scale=scale), axes)
                for role, spec, axes, scale in lane.inputs}
    volumes = {role: workflow.input_volume(dataset, axes, role, training_axes=not job.ignore_training_axistags)
               for role, (dataset, axes) in datasets.items()}
    result = workflow.open_lane(volumes, job.request, parallel_blocks=threads)
    raw = datasets[workflow.input_roles[0].name][0]
    placeholders = {
        "dataset_dir": dataset_dir(raw, job.project),
        "nickname": raw.nickname,
        "result_type": job.export_source.replace(" ", "_"),
        "input_paths": [path for dataset, _ in datasets.values() for path in dataset.paths],
    }
    return OpenLane(result, placeholders)


def dataset_dir(dataset, project: str) -> str:
    """ilastik's {dataset_dir} (DatasetInfo.default_output_dir): the folder of the (first)
    input file; for an OME-Zarr image the folder holding it (the image folder for a file://
    address); for an http(s) address, which has no folder to write to, the project's folder."""
    if is_http_url(dataset.paths[0]):
        return os.path.dirname(project)
    return os.path.dirname(dataset.paths[0])


def process_lane(workflow: Workflow, job: HeadlessJob, lane: LaneSpec, *, threads: int,
                 progress=None, before_writing=None, pool=None, cancel=None) -> LaneOutcome:
    """Compute and export one lane. `progress(done, total)`, `before_writing(temp_paths)`,
    `pool` and `cancel` are export_result's."""
    return export_lane(open_lane(workflow, job, lane, threads=threads), job, threads=threads, progress=progress,
                       before_writing=before_writing, pool=pool, cancel=cancel)


def export_lane(opened: OpenLane, job: HeadlessJob, *, threads: int, progress=None,
                before_writing=None, pool=None, cancel=None) -> LaneOutcome:
    result = opened.result
    preparing, exporting = _progress_phases(progress, result.kind is ResultKind.LANE_WIDE)
    result.prepare(preparing, threads=threads, pool=pool, cancel=cancel)
    outcome = LaneOutcome()
    if result.image is not None:
        outcome.written += export_result(result.image, job.settings, opened.placeholders, threads=threads,
                                         progress=exporting, before_writing=before_writing, pool=pool,
                                         cancel=cancel)
    for table in result.tables():
        if table.per_run:   # written when the run ends; its rows show in the log
            outcome.run_tables.append(table)
        elif table.file is not None:
            outcome.written.append(write_table(table, opened.placeholders, before_writing=before_writing))
    if result.write_files is not None:
        outcome.written += result.write_files(job.settings.output_filename_format, opened.placeholders)
    return outcome


def _progress_phases(progress, lane_wide: bool):
    """(prepare's, the export's) progress callbacks feeding one `progress(done, total)`: a
    lane-wide lane spends about half its time preparing, a block-local one none."""
    if progress is None or not lane_wide:
        return None, progress

    def preparing(done: int, total: int, phase: str) -> None:
        if total > 0:
            progress(done, 2 * total)

    def exporting(done: int, total: int) -> None:
        progress(total + done, 2 * total)

    return preparing, exporting


def write_run_tables(outcomes: list[LaneOutcome], before_writing=None) -> list[str]:
    """Write the per-run tables of `outcomes` (in their order): one file per table file,
    holding the rows of every lane; returns the paths written."""
    by_file: dict[str, list[Table]] = {}
    for outcome in outcomes:
        for table in outcome.run_tables:
            if table.file is not None:
                by_file.setdefault(table.file, []).append(table)
    return [write_table(Table.concatenated(tables), {}, before_writing=before_writing) for tables in by_file.values()]
