"""One lane of Object Classification: every frame's objects, computed once (`LaneObjects`),
then read by the lane-wide images (Object Predictions, Object Probabilities, Object
Identities) and the object table.

Frames are computed one after another, each as a whole (objects need the whole frame: ilastik
labels and measures them per frame). What stays in memory per frame is its object label image
(in the smallest unsigned type that holds its ids) and per object its probabilities and,
when a table is asked for, its features; the raw data, prediction maps and feature stacks of
a frame are dropped before the next one is read.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass

import numpy as np

from ..blocks import Cancelled
from ..export.tables import Table
from ..io.axes import vigra_axistags_json
from ..objects.catalog import DEFAULT, FeatureSelection
from ..objects.table import object_table
from .base import canonical_region, default_output_axis_order, result_axes, to_result_axes
from .lane import LaneState, LaneWideResult
from .object_pipeline import FrameObjects, LaneSegmenter
from .volume import Box

TABLE_NAME = "objects"
# ilastik's name of the object table: the HDF5 dataset, and the suffix of CSV file names
# (`ilastik/utility/exportFile.py` `ExportFile.write_all`: "{base}_{table}.{ext}").
ILASTIK_TABLE = "table"

OBJECT_PREDICTIONS = "Object Predictions"
OBJECT_PROBABILITIES = "Object Probabilities"
OBJECT_IDENTITIES = "Object Identities"


@dataclass
class FrameResult:
    labels: np.ndarray                      # (z, y, x), ids 1..N
    features: dict | None                   # kept for the table only
    probabilities: np.ndarray | None        # (N + 1, K) float32, row 0 zero
    classes: np.ndarray | None              # (N + 1,)


class LaneObjects(LaneState):
    """The objects, features and predictions of every frame of one lane."""

    def __init__(self, segmenter: LaneSegmenter, *, feature_selection: FeatureSelection | None,
                 classify: bool, keep_features: bool):
        super().__init__()
        self.segmenter = segmenter
        self.selection = feature_selection   # None: no features at all (object ids only)
        self.classify = classify
        self.keep_features = keep_features
        self.frames: list[FrameResult] = []

    @property
    def pipeline(self):
        return self.segmenter.pipeline

    def compute(self, progress, *, threads: int, pool, cancel: threading.Event | None) -> None:
        raw = self.segmenter.raw
        # phases per frame: segmentation, object features (if any), classification (if any);
        # classification needs the features
        phases = 1 + (self.selection is not None) + self.classify
        frames = raw.time_points
        steps = frames * phases
        whole = Box.whole(raw.spatial_shape)
        for t in range(frames):
            _check(cancel)
            progress(t * phases, steps, f"frame {t + 1} of {frames}: segmentation")
            objects = self.segmenter.objects(t, whole, threads=threads, pool=pool, cancel=cancel)
            features = probabilities = classes = None
            if self.selection is not None:
                _check(cancel)
                progress(t * phases + 1, steps, f"frame {t + 1} of {frames}: object features")
                features = self.pipeline.features(raw.read(t, whole), objects, self.selection, threads=threads)
            if self.classify:
                _check(cancel)
                progress(t * phases + 2, steps, f"frame {t + 1} of {frames}: classification")
                probabilities, classes = self.pipeline.predict(features, threads=threads)
            self.frames.append(FrameResult(_compact(objects), features if self.keep_features else None,
                                           probabilities, classes))
        progress(steps, steps, "objects done")

    def table_columns(self, selection: FeatureSelection) -> dict[str, np.ndarray]:
        """The object table (ilastik's columns); `selection`: the features it lists."""
        self.require()
        model = self.pipeline.model
        return object_table([frame.features for frame in self.frames], selection,
                            label_names=model.label_names,
                            probabilities=[frame.probabilities for frame in self.frames] if self.classify else None)

    def lane_bytes(self) -> int:
        """The object label images of every frame (at most 4 bytes a pixel), and what one
        frame needs while it is computed."""
        raw = self.segmenter.raw
        frame = math.prod(raw.shape[1:4])
        return 4 * raw.time_points * frame + self.segmenter.bytes_per_pixel() * frame


def _compact(objects: FrameObjects) -> np.ndarray:
    """The label image in the smallest unsigned type holding its ids."""
    count = objects.count
    dtype = np.uint8 if count < 1 << 8 else np.uint16 if count < 1 << 16 else np.uint32
    return objects.labels.astype(dtype, copy=False)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


class ObjectImage(LaneWideResult):
    """Object Predictions (class 1..K, uint8), Object Probabilities (K float32 channels) or
    Object Identities (uint32): every object painted with its value, background 0."""

    def __init__(self, state: LaneObjects, source: str):
        super().__init__(state)
        raw = state.segmenter.raw
        model = state.pipeline.model
        self.source = source
        channels = model.n_classes if source == OBJECT_PROBABILITIES else 1
        self.dtype = np.dtype({OBJECT_PREDICTIONS: np.uint8, OBJECT_PROBABILITIES: np.float32,
                               OBJECT_IDENTITIES: np.uint32}[source])
        self.axes = result_axes(raw)
        self._shape5 = raw.shape[:4] + (channels,)
        self.shape = tuple(self._shape5["tzyxc".index(a)] for a in self.axes)
        preferred = {"t": 1, "z": 32, "y": 512, "x": 512}   # lookups: small blocks cost nothing
        self.block_shape = tuple(min(n, preferred.get(a, n)) for a, n in zip(self.axes, self.shape))
        self.default_axis_order = default_output_axis_order(raw)
        self.resolution = raw.resolution
        self.channel_names = tuple(model.label_names) if source == OBJECT_PROBABILITIES else (source,)
        if source == OBJECT_PROBABILITIES:
            self.channel_colors = tuple(tuple(int(v) for v in color) for color in model.pmap_colors)
            self.drange = (0.0, 1.0)
        elif source == OBJECT_PREDICTIONS:
            self.label_colors = tuple(tuple(int(v) for v in color) for color in model.label_colors)

    def compute(self, start, stop) -> np.ndarray:
        self.state.require()
        region = canonical_region(self.axes, start, stop, self._shape5)
        box = tuple(slice(*region[a]) for a in "zyx")
        c0, c1 = region["c"]
        planes = []
        for t in range(*region["t"]):
            frame = self.state.frames[t]
            labels = frame.labels[box]
            if self.source == OBJECT_IDENTITIES:
                values = labels.astype(np.uint32)[..., None]
            elif self.source == OBJECT_PREDICTIONS:
                values = frame.classes.astype(np.uint8)[labels][..., None]
            else:
                values = frame.probabilities[:, c0:c1][labels]
            planes.append(values)
        return to_result_axes(np.stack(planes), self.axes)

    def block_working_bytes(self) -> int:
        return 3 * math.prod(self.block_shape) * self.dtype.itemsize

    def lane_bytes(self) -> int:
        return self.state.lane_bytes()


def table_file(template: str) -> str:
    """Where ilastik writes the object table for `--table_filename=template`: CSV files get
    `_table` before the extension (`exportFile.py` `write_all`), HDF5 files keep the name."""
    folder, name = os.path.split(template)
    stem, extension = os.path.splitext(name)
    if extension.lower() == ".csv":
        return os.path.join(folder, f"{stem}_{ILASTIK_TABLE}{extension}")
    return template


def object_tables(state: LaneObjects, selection: FeatureSelection, template: str | None, *,
                  margin: int = 0, include_raw: bool = False) -> list[Table]:
    """The lane's object table, written to `template` (ilastik's file name rule) if given; an
    HDF5 file also gets each object's crops (`object_crops`)."""
    file = table_file(template) if template else None
    datasets = {}
    if file is not None and os.path.splitext(file)[1].lower() in (".h5", ".hdf5"):
        datasets = object_crops(state, margin, include_raw)
    return [Table(TABLE_NAME, state.table_columns(selection), file=file, internal_path=ILASTIK_TABLE,
                  datasets=datasets)]


def object_crops(state: LaneObjects, margin: int, include_raw: bool) -> dict[str, tuple[np.ndarray, dict]]:
    """What ilastik's HDF5 object table holds beside the table (`exportFile.py` `add_rois`,
    `create_slicing`): per table row i, `images/<i>/labeling` (1 on the object, 0 elsewhere,
    uint8) and `images/<i>/raw`, both the object's bounding box widened by `margin` and
    clipped to the image, in x, y, z(, c) order without axes of size 1, their axes in the
    attribute `axistags`; with `include_raw`, the whole raw image as `images/raw` instead of
    the raw crops."""
    state.require()
    raw = state.segmenter.raw
    depth, height, width = raw.spatial_shape
    exclusive = state.pipeline.model.coord_maximum_exclusive
    datasets = {}
    if include_raw:
        whole = np.concatenate([raw.read(t, Box.whole(raw.spatial_shape))[None] for t in range(raw.time_points)])
        datasets["images/raw"] = _squeezed(whole.transpose(0, 3, 2, 1, 4), "txyzc", "image")
    row = 0
    for t, frame in enumerate(state.frames):
        lows = frame.features[DEFAULT]["Coord<Minimum>"].astype(np.int64)
        highs = frame.features[DEFAULT]["Coord<Maximum>"].astype(np.int64) + (0 if exclusive else 1)
        for oid in range(1, lows.shape[0]):
            low, high = lows[oid], highs[oid]
            z = (max(0, low[2] - margin), min(high[2] + margin, depth)) if low.size == 3 else (0, 1)
            box = Box(z, (max(0, low[1] - margin), min(high[1] + margin, height)),
                      (max(0, low[0] - margin), min(high[0] + margin, width)))
            labels = (frame.labels[tuple(slice(*r) for r in box.ranges)] == oid).astype(np.uint8)
            datasets[f"images/{row}/labeling"] = _squeezed(labels.transpose(2, 1, 0), "xyz", "labeling")
            if not include_raw:
                datasets[f"images/{row}/raw"] = _squeezed(raw.read(t, box).transpose(2, 1, 0, 3), "xyzc", "image")
            row += 1
    return datasets


def _squeezed(array: np.ndarray, axes: str, kind: str) -> tuple[np.ndarray, dict]:
    """The array without its axes of size 1, and ilastik's attributes naming the rest."""
    kept = "".join(a for a, n in zip(axes, array.shape) if n > 1)
    return array.squeeze(), {"type": kind, "axistags": vigra_axistags_json(kept)}
