"""Running a project headless: lanes from the command line, one export per lane."""

from __future__ import annotations

import os
from pathlib import Path

from ..blocks import default_threads
from ..errors import UserError
from ..export import OUTPUT_FORMATS, ExportSettings
from ..workflows import Workflow, load_workflow, parse_options, workflow_types
from .args import HeadlessArgs, add_workflow_options, base_parser, given_options, parse_headless
from .batch import run_batch
from .distributed import run_distributed
from .lanes import HeadlessJob, LaneSpec


def run_headless(argv: list[str], options) -> int:
    if not options.distributed and (options.resume or options.distributed_block_roi):
        flag = "--resume" if options.resume else "--distributed_block_roi"
        raise UserError(f"{flag} applies to distributed runs only. Fix: add --distributed (under mpiexec or srun), "
                        f"or drop {flag}")
    if options.distributed:
        return run_distributed(lambda: _prepare_distributed(argv, options), options)
    if options.server:
        from .remote import RemoteWorkflow, connect

        workflow = RemoteWorkflow(connect(options.server, options.server_token_file), options.project)
    else:
        workflow = load_workflow(options.project, structure_tensor_order=options.structure_tensor_order)
    args, job, lanes = _parse_run(argv, options, workflow)
    threads = args.options.threads or default_threads()
    if args.options.parallel_files < 0:
        raise UserError(f"--parallel_files={args.options.parallel_files} is negative. Fix: give 0 "
                        "(as many as cores and memory allow), 1 (one after another) or more.")
    if options.server:
        workflow.stack_along = job.stack_along
        # The server holds the project: worker processes would each load it again.
        return run_batch(workflow, job, lanes, threads=threads, parallel_files=1)
    return run_batch(workflow, job, lanes, threads=threads,
                     parallel_files=args.options.parallel_files)


def _prepare_distributed(argv: list[str], options) -> tuple:
    """What each rank of a distributed run needs: (workflow, job, lanes, --threads or None)."""
    workflow = load_workflow(options.project, structure_tensor_order=options.structure_tensor_order)
    args, job, lanes = _parse_run(argv, options, workflow)
    return workflow, job, lanes, args.options.threads


def _parse_run(argv: list[str], options, workflow: Workflow) -> tuple[HeadlessArgs, HeadlessJob, list[LaneSpec]]:
    """The full command line, the job and the lanes, once the project is known."""
    args = parse_headless(argv, _role_flags(workflow), export_sources=workflow.export_sources,
                          output_formats=list(OUTPUT_FORMATS), title=workflow.title, options=workflow.options)
    job = HeadlessJob(
        project=os.path.abspath(options.project),
        structure_tensor_order=options.structure_tensor_order,
        export_source=workflow.resolve_export_source(args.options.export_source),
        settings=export_settings(workflow, args),
        stack_along=args.options.stack_along,
        ignore_training_axistags=args.options.ignore_training_axistags,
        options=tuple(parse_options(workflow.options, given_options(args.options)).items()),
        table_only=args.options.table_only,
        debug=args.debug,
    )
    return args, job, lane_specs(workflow, args)


#: The export flags, named as ExportSettings' fields (and the keys of Workflow.export_defaults).
EXPORT_FLAGS = ("output_format", "output_filename_format", "output_internal_path", "export_dtype",
                "pipeline_result_drange", "export_drange", "output_axis_order", "cutout_subregion")


def export_settings(workflow: Workflow, args: HeadlessArgs) -> ExportSettings:
    """The project's stored export settings, overridden by the command line (as in ilastik);
    what neither gives keeps ExportSettings' defaults (ilastik's)."""
    return settings_over_defaults(workflow, {flag: getattr(args.options, flag) for flag in EXPORT_FLAGS})


def settings_over_defaults(workflow: Workflow, given: dict) -> ExportSettings:
    """The project's stored export settings overridden by `given` (keyed like EXPORT_FLAGS;
    a missing or empty value is not given): the command line's rule, also the server's
    batch runs'."""
    stored = workflow.export_defaults
    chosen = {}
    for flag in EXPORT_FLAGS:
        value = given.get(flag) or stored.get(flag)
        if value is not None:
            chosen[flag] = value
    # validated() parses the flags' list syntax and checks every value.
    return ExportSettings(**chosen).validated()


def _role_flags(workflow: Workflow) -> dict[str, str]:
    return {role.flag: role.name for role in workflow.input_roles}


def lane_specs(workflow: Workflow, args: HeadlessArgs) -> list[LaneSpec]:
    """The lanes of the command line; files are opened later, one lane at a time, so that a
    bad file fails its own lane only."""
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
    axes = [None if value is None else value.lower()
            for value in per_role_values(args.options.input_axes, len(roles), "--input_axes", "axes string")]
    scales = per_role_values(args.options.input_scale, len(roles), "--input_scale", "scale")
    return [LaneSpec(tuple((role.name, files[role.name][index], axes[role_index], scales[role_index])
                           for role_index, role in enumerate(roles) if role.name in files))
            for index in range(len(raw_files))]


def per_role_values(text: str | None, role_count: int, flag: str, what: str) -> list[str | None]:
    """A flag with one value per role, like ilastik's --input_axes: comma-separated per role,
    one value for every role, empty or 'none' for a role's default."""
    if not text:
        return [None] * role_count
    values = [None if v.strip().lower() in ("", "none") else v.strip() for v in text.split(",")]
    if len(values) > role_count:
        raise UserError(f"{flag} names {len(values)} roles but the project has "
                        f"{role_count}. Fix: one {what} per role, comma-separated.")
    if len(values) == 1:
        return values * role_count
    return values + [None] * (role_count - len(values))


def print_project_help(argv: list[str], options) -> int:
    parser = base_parser()
    workflow = load_workflow(options.project) if options.project else None
    for kind in [workflow] if workflow else workflow_types():
        add_workflow_options(parser, kind.title, kind.options)
    parser.print_help()
    if workflow is not None:
        print(f"\n{Path(options.project).name}: {workflow.title} ('{workflow.workflow_name}')")
        print("  input roles: " + ", ".join(
            f"{r.flag} ({r.name}{f', trained on axes {r.training_axes}' if r.training_axes else ''})"
            for r in workflow.input_roles))
        print("  export sources: " + ", ".join(workflow.export_sources))
    return 0
