"""The output names of a run's files, compared before anything is computed: two inputs whose
results would land in the same place would have the second replace the first (ilastik
writes both and keeps the last)."""

from __future__ import annotations

from ..errors import UserError
from ..export.pipeline import output_paths
from .lanes import HeadlessJob, LaneSpec, OpenLane

# The placeholders that tell inputs apart, the first that differs is suggested.
_SEPARATING = ("nickname", "dataset_dir")


def lane_outputs(job: HeadlessJob, opened: OpenLane) -> list[tuple[str, str]]:
    """(file, dataset inside it) of every image file the lane's export would write."""
    if opened.result.image is None:
        return []
    files, internal = output_paths(opened.result.image, job.settings, opened.placeholders)
    return [(path, internal) for path in files]


def refuse_shared_outputs(outputs: dict[int, tuple[LaneSpec, list[tuple[str, str]], dict]]) -> None:
    """UserError if two lanes ({index: (lane, its lane_outputs, its placeholders)}) would
    write the same file (the same dataset, for HDF5, N5 and zarr)."""
    first: dict[tuple[str, str], int] = {}
    for index, (lane, targets, placeholders) in sorted(outputs.items()):
        for target in targets:
            other = first.setdefault(target, index)
            if other == index:
                continue
            earlier, earlier_placeholders = outputs[other][0], outputs[other][2]
            where = target[0] + (f"/{target[1]}" if target[1] else "")
            raise UserError(f"{earlier.label} and {lane.label} would both be written to {where}: the second result "
                            f"would replace the first. Fix: {_fix(earlier_placeholders, placeholders)}")


def _fix(one: dict, other: dict) -> str:
    for name in _SEPARATING:
        if one.get(name) != other.get(name):
            return (f"put {{{name}}} into --output_filename_format ({one.get(name)!r} for one, "
                    f"{other.get(name)!r} for the other), e.g. '{{dataset_dir}}/{{nickname}}_{{result_type}}'")
    return "give each input once"
