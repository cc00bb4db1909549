"""The user's labels as ilastik stores them: `LabelSets/labelsNNN/blockNNNN` per lane.

Each block is a uint8 array (0 = unlabelled, 1..K = class) in the lane's axis order with c
last, its position in the attribute `blockSlice` (e.g. `"[26:64,36:101,0:1]"`) and, since
ilastik 1.3, its axis order in the attribute `axistags`. ilastik saves the non-zero blocks of
its label cache, each shrunk to its bounding box.

In memory, labels are kept sparse (`SparseLabels`: coordinates and values of the labelled
pixels only), so that their size follows the number of labels, not the image size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import h5py
import numpy as np

from ..errors import ProjectError, UserError
from ..io.axes import parse_axistags, vigra_axistags_json

# Grid of the blocks we write (per axis of t, z, y, x): big enough that a few strokes take a
# few blocks, small enough that one block never densifies much of a big image.
BLOCK_2D = (1, 1, 256, 256)
BLOCK_3D = (1, 64, 64, 64)


@dataclass
class SparseLabels:
    """Labelled pixels of one lane: canonical (t, z, y, x) coordinates and their classes.

    Coordinates are unique and sorted in C order; values are 1..255."""

    coords: np.ndarray   # (N, 4) int64
    values: np.ndarray   # (N,) uint8

    @classmethod
    def empty(cls) -> "SparseLabels":
        return cls(np.zeros((0, 4), np.int64), np.zeros(0, np.uint8))

    @classmethod
    def from_pixels(cls, coords, values) -> "SparseLabels":
        """Sorted and de-duplicated: where a pixel appears twice, the later entry wins."""
        coords = np.asarray(coords, dtype=np.int64).reshape(-1, 4)
        values = np.asarray(values).reshape(-1)
        if values.size and (values.min() < 0 or values.max() > 255):
            raise ValueError("label values must lie in 0..255")
        values = values.astype(np.uint8)
        keep = values != 0
        coords, values = coords[keep], values[keep]
        if not len(values):
            return cls.empty()
        # np.unique keeps the first occurrence: reverse so that the last one wins.
        _, first = np.unique(coords[::-1], axis=0, return_index=True)
        chosen = len(values) - 1 - first
        return cls(coords[chosen], values[chosen])

    @classmethod
    def from_dense(cls, labels: np.ndarray) -> "SparseLabels":
        """From a dense (t, z, y, x) label array."""
        where = np.nonzero(labels)
        return cls(np.stack(where, axis=1).astype(np.int64), labels[where].astype(np.uint8))

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def classes(self) -> np.ndarray:
        return np.unique(self.values)

    def merged(self, newer: "SparseLabels") -> "SparseLabels":
        """These labels with `newer` drawn on top (newer wins where both label a pixel)."""
        return SparseLabels.from_pixels(np.concatenate([self.coords, newer.coords]),
                                        np.concatenate([self.values, newer.values]))

    def subset(self, mask: np.ndarray) -> "SparseLabels":
        return SparseLabels(self.coords[mask], self.values[mask])

    def check_inside(self, shape_tzyx, where: str) -> None:
        if len(self) and np.any(self.coords.max(axis=0) >= np.asarray(shape_tzyx)):
            beyond = self.coords.max(axis=0) + 1
            raise UserError(
                f"{where}: labels reach (t, z, y, x) = {tuple(int(v) for v in beyond)} but the raw "
                f"data is only {tuple(int(v) for v in shape_tzyx)}. Fix: pass the raw image the "
                "labels were drawn on (--raw_data, one per lane in lane order)."
            )


# -- reading -----------------------------------------------------------------------------

def _lane_number(name: str) -> int:
    # ilastik sorts by the number in the name: labels2 before labels10
    match = re.search(r"(\d+)", name)
    return int(match.group(1)) if match else -1


def parse_block_slice(text) -> list[tuple[int, int]]:
    if isinstance(text, bytes):
        text = text.decode()
    parts = str(text).strip().strip("[]").split(",")
    ranges = []
    for part in parts:
        start, _, stop = part.partition(":")
        ranges.append((int(start or 0), int(stop)))
    return ranges


def _block_axes(block, lane_axes: str, ndim: int, where: str) -> str:
    """The axis order a block is stored in: its own axistags, else the lane's with c last."""
    if "axistags" in block.attrs:
        parsed = parse_axistags(block.attrs["axistags"])
        if parsed is not None and len(parsed[0]) == ndim:
            return parsed[0]
    axes = lane_axes if "c" in lane_axes else lane_axes + "c"
    if len(axes) != ndim:
        raise ProjectError(f"{where}: a label block has {ndim} dimensions but the lane's axes "
                           f"are '{lane_axes}'. The project is damaged; re-save it in ilastik.")
    return axes


def read_label_blocks(group: h5py.Group, lane_axes: str, where: str) -> SparseLabels:
    """All blocks of one lane's label group as sparse (t, z, y, x) labels."""
    coords, values = [], []
    for name in sorted(group):
        item = group[name]
        # Masked blocks (a group with data and mask) exist in other ilastik applets.
        data_set = item["data"] if isinstance(item, h5py.Group) and "data" in item else item
        if not isinstance(data_set, h5py.Dataset):
            continue
        slicing = item.attrs.get("blockSlice")
        if slicing is None:
            raise ProjectError(f"{where}: label block {name} has no blockSlice attribute. The "
                               "project is damaged; re-save it in ilastik.")
        block = np.asarray(data_set[()])
        ranges = parse_block_slice(slicing)
        axes = _block_axes(item, lane_axes, block.ndim, where)
        if len(ranges) != block.ndim:
            raise ProjectError(f"{where}: label block {name} has {block.ndim} dimensions but its "
                               f"blockSlice {slicing!r} names {len(ranges)}.")
        where_nonzero = np.nonzero(block)
        if not where_nonzero[0].size:
            continue
        canonical = np.zeros((where_nonzero[0].size, 4), dtype=np.int64)
        for axis, index, (start, _) in zip(axes, where_nonzero, ranges):
            if axis in "tzyx":
                canonical[:, "tzyx".index(axis)] = index + start
        coords.append(canonical)
        values.append(block[where_nonzero])
    if not coords:
        return SparseLabels.empty()
    all_values = np.concatenate(values)
    if all_values.dtype.kind == "f" and np.any(all_values != np.round(all_values)):
        raise ProjectError(f"{where}: label blocks hold non-integer values.")
    return SparseLabels.from_pixels(np.concatenate(coords), all_values.astype(np.int64))


def read_label_sets(classifier_group: h5py.Group, lane_axes: list[str],
                    where: str) -> list[SparseLabels]:
    """One SparseLabels per lane (empty where the lane has none)."""
    lanes = [SparseLabels.empty() for _ in lane_axes]
    label_sets = classifier_group.get("LabelSets")
    if label_sets is None:
        return lanes
    for position, name in enumerate(sorted(label_sets, key=_lane_number)):
        if position >= len(lanes):
            raise ProjectError(f"{where}: LabelSets holds labels for {position + 1} lanes but the "
                               f"project lists {len(lanes)} input images. Re-save it in ilastik.")
        lanes[position] = read_label_blocks(label_sets[name], lane_axes[position],
                                            f"{where} {name}")
    return lanes


# -- writing -----------------------------------------------------------------------------

def write_label_sets(group: h5py.Group, lanes: list[SparseLabels | None],
                     lane_axes: list[str]) -> None:
    """`LabelSets` with one `labelsNNN` group per lane, blocks on a fixed grid, each shrunk to
    its labels' bounding box, in the lane's axis order with c last (as ilastik writes them)."""
    label_sets = group.create_group("LabelSets")
    for index, (labels, axes) in enumerate(zip(lanes, lane_axes)):
        lane_group = label_sets.create_group(f"labels{index:03d}")
        if labels is not None and len(labels):
            _write_lane_blocks(lane_group, labels, axes.replace("c", ""))


def _write_lane_blocks(group: h5py.Group, labels: SparseLabels, axes: str) -> None:
    """`axes`: the lane's axes without c (any order of t, z, y, x)."""
    grid = np.asarray(BLOCK_3D if "z" in axes else BLOCK_2D)
    cells = labels.coords // grid
    order = np.lexsort(cells.T[::-1])
    cells, coords, values = cells[order], labels.coords[order], labels.values[order]
    starts = np.flatnonzero(np.any(np.diff(cells, axis=0) != 0, axis=1)) + 1
    tags = vigra_axistags_json(axes + "c")
    positions = ["tzyx".index(a) for a in axes]
    for number, (a, b) in enumerate(zip(np.r_[0, starts], np.r_[starts, len(values)])):
        local = coords[a:b]
        low, high = local.min(axis=0), local.max(axis=0) + 1
        block = np.zeros(tuple(int(high[p] - low[p]) for p in positions) + (1,), dtype=np.uint8)
        block[tuple(local[:, p] - low[p] for p in positions) + (0,)] = values[a:b]
        dataset = group.create_dataset(f"block{number:04d}", data=block, compression="gzip")
        ranges = [f"{int(low[p])}:{int(high[p])}" for p in positions] + ["0:1"]
        dataset.attrs["blockSlice"] = "[" + ",".join(ranges) + "]"
        dataset.attrs["axistags"] = tags
