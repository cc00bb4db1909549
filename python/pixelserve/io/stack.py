"""Several files read as one image, stacked along an axis (ilastik's --stack_along).

ilastik's rule (OpMultiArrayStacker as used by its sequence readers): when the files lack the
stack axis it is prepended; when they have it, the files are concatenated along it.
Reads touch only the files that overlap the requested region.
"""

from __future__ import annotations

import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.source import ArraySource, region_shape


class StackSource(ArraySource):
    def __init__(self, members: list[ArraySource], names: list[str], stack_along: str):
        first = members[0]
        for member, name in zip(members[1:], names[1:]):
            problem = _mismatch(first, member, stack_along)
            if problem:
                raise UserError(
                    f"Cannot stack {name} onto {names[0]}: {problem}; all files of a stack must have the same "
                    f"axes and data type, and the same shape apart from the stack axis '{stack_along}'."
                )
        self.members = members
        self.dtype = first.dtype
        self.axes_from_file = all(m.axes_from_file for m in members)
        self.resolution = dict(first.resolution)
        self.internal_path = first.internal_path if all(m.internal_path == first.internal_path for m in members) else None
        if stack_along in first.axes:
            self.axis = first.axes.index(stack_along)
            self.prepended = False
            sizes = [m.shape[self.axis] for m in members]
            self.shape = first.shape[: self.axis] + (sum(sizes),) + first.shape[self.axis + 1 :]
            self.axes = first.axes
        else:
            self.axis, self.prepended, sizes = 0, True, [1] * len(members)
            self.shape = (len(members),) + first.shape
            self.axes = stack_along + first.axes
            self.resolution.pop(stack_along, None)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)

    def _read(self, region):
        out = np.empty(region_shape(region), dtype=self.dtype)
        wanted = region[self.axis]
        for index, member in enumerate(self.members):
            lo, hi = max(wanted.start, self.offsets[index]), min(wanted.stop, self.offsets[index + 1])
            if lo >= hi:
                continue  # this file lies outside the region: never opened
            target = [slice(None)] * len(region)  # positions within `out`
            target[self.axis] = slice(lo - wanted.start, hi - wanted.start)
            if self.prepended:
                out[tuple(target)] = member.read(region[1:])
            else:
                own = list(region)
                own[self.axis] = slice(lo - self.offsets[index], hi - self.offsets[index])
                out[tuple(target)] = member.read(tuple(own))
        return out


def _mismatch(first: ArraySource, other: ArraySource, stack_along: str) -> str | None:
    if other.axes != first.axes:
        return f"its axes are '{other.axes}' but the first file's are '{first.axes}'"
    if other.dtype != first.dtype:
        return f"its data type is {other.dtype} but the first file's is {first.dtype}"
    ignored = first.axes.index(stack_along) if stack_along in first.axes else None
    same = all(a == b for i, (a, b) in enumerate(zip(first.shape, other.shape)) if i != ignored)
    if len(first.shape) != len(other.shape) or not same:
        return f"its shape is {other.shape} but the first file's is {first.shape}"
    return None
