"""Reading a label image (0 = unlabelled, 1..K = class) into sparse labels, slab by slab.

Only the labelled pixels are kept, so a huge mostly-empty label image costs memory in
proportion to its labels. Any input the command line reads works (TIFF, PNG, HDF5 with an
internal path, N5, zarr, numpy, ...), as does an in-memory array.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..io import open_dataset
from ..project.label_sets import SparseLabels
from ..workflows.volume import Box, Volume

# Pixels read per slab: a few slabs of a big label image at a time.
_SLAB_PIXELS = 1 << 24


def label_volume(labels, raw: Volume, *, name: str) -> Volume:
    """The label image (a path or an array) as a Volume in the raw image's axes.

    A label image without a channel axis is read in the raw image's axes without c, which
    is how Fiji and numpy users hold them; otherwise the file's own axes are used."""
    raw_axes_no_c = raw.own_axes.replace("c", "")
    if isinstance(labels, np.ndarray):
        axes = raw_axes_no_c if labels.ndim == len(raw_axes_no_c) else raw.own_axes
        if labels.ndim != len(axes):
            raise UserError(
                f"The label array {name} has shape {labels.shape} but the raw image {raw.name} "
                f"has {raw.own_shape} (axes '{raw.own_axes}'). Fix: give labels of the raw "
                "image's size (0 = unlabelled, 1..K = classes)."
            )
        return Volume.from_array(labels, axes, name=name)
    dataset = open_dataset(labels)
    same_rank = len(dataset.shape) == len(raw_axes_no_c)
    axes = raw_axes_no_c if same_rank else dataset.axes
    if not same_rank and len(dataset.shape) == len(raw.own_axes):
        axes = raw.own_axes
    return Volume.from_dataset(dataset, axes, name=str(labels))


def check_label_shape(labels: Volume, raw: Volume) -> None:
    if labels.shape[:4] != raw.shape[:4] or labels.channels != 1:
        raise UserError(
            f"The label image {labels.name} has shape {labels.own_shape} (axes "
            f"'{labels.own_axes}') but the raw image {raw.name} has {raw.own_shape} (axes "
            f"'{raw.own_axes}'). Fix: draw labels on an image of the raw image's size, one "
            "channel (0 = unlabelled, 1..K = classes)."
        )


def read_sparse_labels(labels: Volume, raw: Volume) -> SparseLabels:
    """The labelled pixels of a label image of the raw image's size."""
    check_label_shape(labels, raw)
    nz, ny, nx = raw.spatial_shape
    rows = max(1, min(ny, _SLAB_PIXELS // max(1, nx)))
    coords, values = [], []
    for t in range(raw.time_points):
        for z in range(nz):
            for y in range(0, ny, rows):
                box = Box((z, z + 1), (y, min(ny, y + rows)), (0, nx))
                slab = labels.read(t, box)[0, ..., 0]
                where = np.nonzero(slab)
                if not where[0].size:
                    continue
                found = _checked_values(slab[where], labels.name)
                coords.append(np.stack([np.full(found.size, t), np.full(found.size, z),
                                        where[0] + y, where[1]], axis=1))
                values.append(found)
    if not coords:
        return SparseLabels.empty()
    return SparseLabels(np.concatenate(coords).astype(np.int64), np.concatenate(values))


def _checked_values(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype.kind == "b":
        return values.astype(np.uint8)
    if values.dtype.kind not in "iuf":
        raise UserError(f"The label image {name} holds {values.dtype} values. Fix: save labels "
                        "as integers (0 = unlabelled, 1..K = classes).")
    if values.dtype.kind == "f" and (not np.all(np.isfinite(values))
                                     or np.any(values != np.round(values))):
        bad = values[~np.isfinite(values) | (values != np.round(values))][0]
        raise UserError(f"The label image {name} holds the non-integer value {bad!r}. Fix: "
                        "save labels as whole numbers (0 = unlabelled, 1..K = classes).")
    low, high = values.min(), values.max()
    if low < 0 or high > 255:
        bad = low if low < 0 else high
        raise UserError(f"The label image {name} holds the value {bad:g}; labels are 1..255 "
                        "(ilastik stores them as 8-bit). Fix: number the classes 1, 2, ... "
                        "and use 0 for unlabelled pixels.")
    return values.astype(np.uint8)
