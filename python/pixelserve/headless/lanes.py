"""One lane of a headless run: what every lane shares (the job), one lane as given on the
command line, and opening, computing and exporting it. The serial loop, the worker processes
and the remote run all use these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..export import ExportSettings, export_result
from ..io import open_dataset
from ..workflows import Volume, Workflow


@dataclass(frozen=True)
class HeadlessJob:
    """What every lane of one run shares. Picklable: worker processes rebuild the run from it."""

    project: str
    structure_tensor_order: str | None
    export_source: str
    settings: ExportSettings
    stack_along: str
    debug: bool = False


@dataclass(frozen=True)
class LaneSpec:
    """One lane as given on the command line: (role, file spec, --input_axes) per role."""

    inputs: tuple[tuple[str, str, str | None], ...]

    @property
    def label(self) -> str:
        """How messages name the lane: its raw data as the user wrote it."""
        return self.inputs[0][1]


@dataclass
class OpenLane:
    source: object  # a ResultSource
    placeholders: dict


def open_lane(workflow: Workflow, job: HeadlessJob, lane: LaneSpec, *, threads: int = 1) -> OpenLane:
    """The lane's result source (for `threads` threads) and output-name placeholders; reads
    only file headers."""
    datasets = {role: (open_dataset(spec, stack_along=job.stack_along), axes)
                for role, spec, axes in lane.inputs}
    volumes = {role: input_volume(dataset, axes, workflow, role)
               for role, (dataset, axes) in datasets.items()}
    source = workflow.result_source(volumes, job.export_source, parallel_blocks=threads)
    raw = datasets[workflow.input_roles[0].name][0]
    placeholders = {
        "dataset_dir": str(Path(raw.paths[0]).parent),
        "nickname": raw.nickname,
        "result_type": job.export_source.replace(" ", "_"),
        "input_paths": [path for dataset, _ in datasets.values() for path in dataset.paths],
    }
    return OpenLane(source, placeholders)


def process_lane(workflow: Workflow, job: HeadlessJob, lane: LaneSpec, *, threads: int,
                 progress=None, before_writing=None) -> list[str]:
    """Compute and export one lane; returns the written paths. `progress(done, total)` and
    `before_writing(temp_paths)` are export_result's hooks."""
    return export_lane(open_lane(workflow, job, lane, threads=threads), job, threads=threads, progress=progress,
                       before_writing=before_writing)


def export_lane(opened: OpenLane, job: HeadlessJob, *, threads: int, progress=None,
                before_writing=None) -> list[str]:
    source = opened.source
    return export_result(
        source, job.settings, opened.placeholders, default_axis_order=source.default_axis_order,
        threads=threads, progress=progress, before_writing=before_writing,
        resolution={axis: size for axis, (size, _) in source.resolution.items()},
        axis_units={axis: unit for axis, (_, unit) in source.resolution.items() if unit},
    )


def input_volume(dataset, axes: str | None, workflow: Workflow, role: str) -> Volume:
    """A dataset as a Volume. Its axes: --input_axes, else the file's own, else the training
    data's when they have as many dimensions, else ilastik's guess from the shape."""
    if axes is None:
        axes = dataset.axes
        if not dataset.axes_from_file:
            training = next((r.training_axes for r in workflow.input_roles if r.name == role), "")
            if training and len(training) == len(dataset.shape):
                axes = training
    return Volume.from_dataset(dataset, axes, name=dataset_label(dataset))


def dataset_label(dataset) -> str:
    path = dataset.paths[0] if len(dataset.paths) == 1 else f"{len(dataset.paths)} files"
    return path + (f"/{dataset.internal_path}" if dataset.internal_path else "")
