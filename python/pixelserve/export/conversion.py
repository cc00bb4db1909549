"""The in-memory part of an export: subregion, data-range/dtype conversion, axis order.

`ExportPlan` is computed once from the source's axes, shape and dtype plus the settings;
`export_result` and `export_to_array` run it block by block, so files and arrays can never
disagree. ilastik applies the steps in this order (subregion, normalise and
convert, reorder axes), see `lazyflow/operators/ioOperators/opFormattedDataExport.py`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from pixelserve.errors import UserError

#: Every axis key pixelserve knows, in ilastik's canonical order.
ALL_AXES = "tzyxc"


def check_axes(axes: str, what: str) -> str:
    """Return `axes` lower-cased if it is a string of distinct keys from 'tzyxc'."""
    axes = axes.lower()
    bad = sorted(set(axes) - set(ALL_AXES))
    if bad:
        raise UserError(
            f"{what} {axes!r} contains {', '.join(map(repr, bad))}: use only the axis keys t, z, y, x, c"
        )
    if len(set(axes)) != len(axes):
        raise UserError(f"{what} {axes!r} names an axis twice: give each axis key at most once")
    return axes


def reorder_axes(array: np.ndarray, axes: str, new_axes: str) -> np.ndarray:
    """A view of `array` (axes `axes`) with axes `new_axes`.

    Axes only in `new_axes` become singletons; axes only in `axes` must be singletons and are
    dropped. Writers use this too, to map blocks into their own file layout.
    """
    dropped = tuple(0 if a not in new_axes else slice(None) for a in axes)
    kept = [a for a in axes if a in new_axes]
    view = array[dropped]
    view = view.transpose([kept.index(a) for a in new_axes if a in kept])
    inserted = tuple(np.newaxis if a not in kept else slice(None) for a in new_axes)
    return view[inserted]


# --- ilastik's normalisation formula -------------------------------------------------------
# ilastik computes `min_out + (a - min_in) * float32(spread_out / spread_in)` with numpy < 2
# (its conda recipe pins numpy < 1.27). Python scalars then follow numpy 1's value-based
# casting, which differs from numpy 2 in edge cases (e.g. float32 - 100000 gives float64 in
# numpy 1 but float32 in numpy 2; uint8 - (-1) gives int16 in numpy 1 but raises in numpy 2).
# The result dtype of each step is therefore computed explicitly with numpy 1's rule.

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _numpy1_result_dtype(array_dtype: np.dtype, scalar) -> np.dtype:
    """numpy 1's result dtype of `array OP scalar`: the scalar's value counts, not its type,
    unless its kind (bool < int < float < complex) is higher than the array's."""
    scalar_dtype = np.asarray(scalar).dtype
    if _CATEGORY[scalar_dtype.kind] > _CATEGORY[np.dtype(array_dtype).kind]:
        return np.promote_types(array_dtype, scalar_dtype)
    return np.promote_types(array_dtype, np.min_scalar_type(scalar))


def normalize(a: np.ndarray, drange_in, drange_out, dtype_out) -> np.ndarray:
    """Map `drange_in` linearly onto `drange_out` and convert to `dtype_out`, exactly like
    ilastik: no clipping, a zero (|spread| <= 1e-8) input spread gives ratio 0, the ratio is
    float32, and only float input going to an integer dtype is rounded (rint); integer input
    is truncated by the final cast."""
    min_in, max_in = drange_in
    min_out, max_out = drange_out
    spread_in = float(max_in) - float(min_in)
    spread_out = float(max_out) - float(min_out)
    ratio = np.float32(0.0) if abs(spread_in) <= 1e-8 else np.float32(spread_out / spread_in)

    dtype = _numpy1_result_dtype(a.dtype, min_in)
    result = np.subtract(a, np.asarray(min_in, dtype), dtype=dtype)
    dtype = _numpy1_result_dtype(result.dtype, ratio)
    result = np.multiply(result, np.asarray(ratio, dtype), dtype=dtype)
    dtype = _numpy1_result_dtype(result.dtype, min_out)
    result = np.add(result, np.asarray(min_out, dtype), dtype=dtype)
    dtype_out = np.dtype(dtype_out)
    with np.errstate(invalid="ignore", over="ignore"):
        if a.dtype.kind == "f" and dtype_out.kind in "ui":
            np.rint(result, out=result)
        return result.astype(dtype_out)


def cast(a: np.ndarray, dtype) -> np.ndarray:
    """ilastik's conversion without normalisation: a plain (unsafe, C-style) cast."""
    with np.errstate(invalid="ignore", over="ignore"):
        return a.astype(dtype, copy=False)


# --- subregion -----------------------------------------------------------------------------


def resolve_region(axes: str, shape: tuple[int, ...], cutout) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The (start, stop) that `--cutout_subregion` selects, clipped to `shape`.

    Like ilastik, a start of None (or 0) means 0 and a stop of None *or 0* means the full extent
    (ilastik writes `stop or extent`). Clipping warns, as ilastik does.
    """
    if cutout is None:
        return (0,) * len(shape), tuple(shape)
    start, stop = cutout
    if len(start) != len(shape) or len(stop) != len(shape):
        raise UserError(
            f"--cutout_subregion has {len(start)} start and {len(stop)} stop values but the exported "
            f"result has {len(shape)} axes ({axes}, shape {tuple(shape)}): give one value per axis in the order {axes}"
        )
    wanted_start = [s or 0 for s in start]
    wanted_stop = [s or extent for s, extent in zip(stop, shape)]
    clipped_start = [max(0, s) for s in wanted_start]
    clipped_stop = [min(extent, s) for s, extent in zip(wanted_stop, shape)]
    if clipped_start != wanted_start or clipped_stop != wanted_stop:
        warnings.warn(
            f"--cutout_subregion {[tuple(wanted_start), tuple(wanted_stop)]} exceeds the result's shape "
            f"{tuple(shape)} ({axes}); clipping it to {[tuple(clipped_start), tuple(clipped_stop)]}",
            stacklevel=3,
        )
    for axis, s, e in zip(axes, clipped_start, clipped_stop):
        if s >= e:
            raise UserError(
                f"--cutout_subregion selects nothing along axis {axis} (start {s}, stop {e}, size "
                f"{shape[axes.index(axis)]}): give a start below the stop on every axis"
            )
    return tuple(clipped_start), tuple(clipped_stop)


# --- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportPlan:
    """Everything the export applies to the source, decided before any pixel is computed."""

    source_axes: str
    source_shape: tuple[int, ...]
    region_start: tuple[int, ...]
    region_stop: tuple[int, ...]
    export_dtype: np.dtype
    normalization: tuple[tuple, tuple] | None  # (pipeline_result_drange, export_drange)
    output_axes: str
    drange: tuple | None  # the exported data's range, for file metadata; None when unknown

    @classmethod
    def create(cls, axes, shape, dtype, settings, *, default_axis_order: str, source_drange=None) -> "ExportPlan":
        """Plan an export of a result with `axes`/`shape`/`dtype` under validated `settings`."""
        axes = check_axes(axes, "The result's axes")
        shape = tuple(int(n) for n in shape)
        if len(axes) != len(shape):
            raise UserError(f"The result's axes {axes!r} do not match its shape {shape}: give one axis key per dimension")
        start, stop = resolve_region(axes, shape, settings.cutout_subregion)
        region_shape = tuple(e - s for s, e in zip(start, stop))

        export_dtype = np.dtype(settings.export_dtype) if settings.export_dtype else np.dtype(dtype)
        normalization = None
        if settings.pipeline_result_drange is not None and settings.export_drange is not None:
            normalization = (tuple(settings.pipeline_result_drange), tuple(settings.export_drange))

        order = settings.output_axis_order or default_axis_order
        output_axes = check_axes(order, "The output axis order")
        for axis, size in zip(axes, region_shape):
            if axis not in output_axes and size > 1:
                raise UserError(
                    f"The output axis order {output_axes!r} leaves out axis {axis!r}, but the result has {size} "
                    f"values along it: add {axis!r} to --output_axis_order, or cut it to one value with --cutout_subregion"
                )

        plan = cls(axes, shape, start, stop, export_dtype, normalization, output_axes, drange=None)
        if normalization is None and source_drange is None:
            return plan
        # ilastik pushes the input range through the same conversion (OpPixelOperator)
        known_range = normalization[0] if normalization is not None else source_drange
        return replace(plan, drange=tuple(plan.convert(np.array(known_range)).tolist()))

    @property
    def region_shape(self) -> tuple[int, ...]:
        return tuple(e - s for s, e in zip(self.region_start, self.region_stop))

    @property
    def output_shape(self) -> tuple[int, ...]:
        sizes = dict(zip(self.source_axes, self.region_shape))
        return tuple(sizes.get(a, 1) for a in self.output_axes)

    def convert(self, block: np.ndarray) -> np.ndarray:
        """Data range and dtype conversion of one block (any axes)."""
        if self.normalization is not None:
            drange_in, drange_out = self.normalization
            return normalize(block, drange_in, drange_out, self.export_dtype)
        return cast(block, self.export_dtype)

    def reorder(self, block: np.ndarray) -> np.ndarray:
        """A block in source axes, as a view in output axes."""
        return reorder_axes(block, self.source_axes, self.output_axes)

    def output_start(self, source_start: tuple[int, ...]) -> tuple[int, ...]:
        """Where a block starting at `source_start` (source coordinates) lands in the output."""
        offsets = {a: s - r for a, s, r in zip(self.source_axes, source_start, self.region_start)}
        return tuple(offsets.get(a, 0) for a in self.output_axes)
