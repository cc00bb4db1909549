"""The output names of a run's files, compared before anything is computed: two inputs whose
results would land in the same place would have the second replace the first (ilastik
writes both and keeps the last)."""

from __future__ import annotations

from ..errors import UserError
from ..export.pipeline import output_paths
from ..export.tables import table_path
from .lanes import HeadlessJob, LaneSpec, OpenLane

# The placeholders that tell inputs apart, the first that differs is suggested.
_SEPARATING = ("nickname", "dataset_dir")
IMAGE_NAME_FLAG = "--output_filename_format"


def lane_outputs(job: HeadlessJob, opened: OpenLane) -> list[tuple[str, str, str]]:
    """(file, dataset inside it, the flag that names it) of every image and table file the
    lane's export would write."""
    targets = []
    if opened.result.image is not None:
        files, internal = output_paths(opened.result.image, job.settings, opened.placeholders)
        targets += [(path, internal, IMAGE_NAME_FLAG) for path in files]
    for template, option in opened.result.table_files.items():
        targets.append((table_path(template, opened.placeholders), "", f"--{option}"))   # replaced whole
    return targets


def refuse_shared_outputs(outputs: dict[int, tuple[LaneSpec, list[tuple[str, str, str]], dict]]) -> None:
    """UserError if two lanes ({index: (lane, its lane_outputs, its placeholders)}) would
    write the same file (the same dataset, for HDF5, N5 and zarr)."""
    first: dict[tuple[str, str], int] = {}
    for index, (lane, targets, placeholders) in sorted(outputs.items()):
        for path, internal, flag in targets:
            other = first.setdefault((path, internal), index)
            if other == index:
                continue
            earlier, earlier_placeholders = outputs[other][0], outputs[other][2]
            where = path + (f"/{internal}" if internal else "")
            raise UserError(f"{earlier.label} and {lane.label} would both be written to {where}: the second result "
                            f"would replace the first. Fix: {_fix(earlier_placeholders, placeholders, flag)}")


def _fix(one: dict, other: dict, flag: str) -> str:
    example = "{dataset_dir}/{nickname}_{result_type}" if flag == IMAGE_NAME_FLAG else "{dataset_dir}/{nickname}.csv"
    for name in _SEPARATING:
        if one.get(name) != other.get(name):
            return (f"put {{{name}}} into {flag} ({one.get(name)!r} for one, "
                    f"{other.get(name)!r} for the other), e.g. '{example}'")
    return "give each input once"
