"""Running a project headless: lanes from the command line, one export per lane."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..blocks import default_threads
from ..errors import UserError
from ..export import OUTPUT_FORMATS, ExportSettings, export_result
from ..io import open_dataset
from ..workflows import Volume, Workflow, load_workflow
from .args import HeadlessArgs, base_parser, parse_headless


def run_headless(argv: list[str], options) -> int:
    workflow = load_workflow(options.project, structure_tensor_order=options.structure_tensor_order)
    args = parse_headless(argv, _role_flags(workflow), export_sources=workflow.export_sources,
                          output_formats=list(OUTPUT_FORMATS))
    export_source = workflow.resolve_export_source(args.options.export_source)
    settings = export_settings(workflow, args)
    lanes = _lanes(workflow, args)
    threads = args.options.threads or default_threads()
    for lane in lanes:
        volumes = {role: input_volume(dataset, axes, workflow, role)
                   for role, (dataset, axes) in lane.items()}
        source = workflow.result_source(volumes, export_source)
        raw = lane[workflow.input_roles[0].name][0]
        placeholders = {
            "dataset_dir": str(Path(raw.paths[0]).parent),
            "nickname": raw.nickname,
            "result_type": export_source.replace(" ", "_"),
            "input_paths": [path for dataset, _ in lane.values() for path in dataset.paths],
        }
        with _progress_bar(source) as progress:
            written = export_result(
                source, settings, placeholders, default_axis_order=source.default_axis_order,
                threads=threads, progress=progress,
                resolution={axis: size for axis, (size, _) in source.resolution.items()},
                axis_units={axis: unit for axis, (_, unit) in source.resolution.items() if unit},
            )
        for path in written:
            print(f"Wrote {path}")
    return 0


# Each export setting: the flag that sets it and the project field holding its stored default.
EXPORT_SETTING_SOURCES = {
    "output_format": ("output_format", "OutputFormat"),
    "output_filename_format": ("output_filename_format", "OutputFilenameFormat"),
    "output_internal_path": ("output_internal_path", "OutputInternalPath"),
    "export_dtype": ("export_dtype", "ExportDtype"),
    "pipeline_result_drange": ("pipeline_result_drange", "InputRange"),
    "export_drange": ("export_drange", "ExportRange"),
    "output_axis_order": ("output_axis_order", "OutputAxisOrder"),
}


def export_settings(workflow: Workflow, args: HeadlessArgs) -> ExportSettings:
    """The project's stored export settings, overridden by the command line (as in ilastik);
    what neither gives keeps ExportSettings' defaults (ilastik's)."""
    stored = workflow.project.export_defaults
    chosen = {}
    for field, (flag, key) in EXPORT_SETTING_SOURCES.items():
        value = getattr(args.options, flag) or stored.get(key)
        if value is not None:
            chosen[field] = value
    region = args.options.cutout_subregion
    if not region and "RegionStart" in stored and "RegionStop" in stored:
        region = (tuple(stored["RegionStart"]), tuple(stored["RegionStop"]))
    if region:
        chosen["cutout_subregion"] = region
    # validated() parses the flags' list syntax and checks every value.
    return ExportSettings(**chosen).validated()


def _role_flags(workflow: Workflow) -> dict[str, str]:
    return {role.flag: role.name for role in workflow.input_roles}


def _lanes(workflow: Workflow, args: HeadlessArgs) -> list[dict]:
    roles = workflow.input_roles
    files = dict(args.role_files)
    if args.positional:
        files = {roles[0].name: args.positional}
    raw_files = files.get(roles[0].name)
    if not raw_files:
        flags = " or ".join(role.flag for role in roles[:1])
        raise UserError(f"No input files given. Fix: list the images to process after the flags, "
                        f"or after {flags}.")
    for role in roles[1:]:
        count = len(files.get(role.name, []))
        if count not in (0, len(raw_files)):
            raise UserError(f"{len(raw_files)} raw data file(s) but {count} for {role.name}. "
                            f"Fix: give one {role.flag} file per raw data file, in the same order.")
    axes = _input_axes(args.options.input_axes, len(roles))
    lanes: list[dict] = []
    for index in range(len(raw_files)):
        lane = {}
        for role_index, role in enumerate(roles):
            if role.name in files:
                dataset = open_dataset(files[role.name][index], stack_along=args.options.stack_along)
                lane[role.name] = (dataset, axes[role_index])
        lanes.append(lane)
    return lanes


def _input_axes(text: str | None, role_count: int) -> list[str | None]:
    """ilastik's --input_axes: comma-separated per role; one value applies to every role."""
    if not text:
        return [None] * role_count
    values = [None if v.strip().lower() in ("", "none") else v.strip().lower()
              for v in text.split(",")]
    if len(values) > role_count:
        raise UserError(f"--input_axes names {len(values)} roles but the project has "
                        f"{role_count}. Fix: one axes string per role, comma-separated.")
    if len(values) == 1:
        return values * role_count
    return values + [None] * (role_count - len(values))


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


class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _progress_bar(source):
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return _NoProgress()
    from tqdm import tqdm

    class Bar:
        def __enter__(self):
            self.bar = tqdm(total=1, unit="px", unit_scale=True, leave=False, file=sys.stderr)
            return self.update

        def update(self, done, total):
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

        def __exit__(self, *exc):
            self.bar.close()
            return False

    return Bar()


def print_project_help(argv: list[str], options) -> int:
    parser = base_parser()
    parser.print_help()
    if options.project:
        workflow = load_workflow(options.project)
        print(f"\n{Path(options.project).name}: {workflow.workflow_name}")
        print("  input roles: " + ", ".join(f"{r.flag} ({r.name})" for r in workflow.input_roles))
        print("  export sources: " + ", ".join(workflow.export_sources))
    return 0
