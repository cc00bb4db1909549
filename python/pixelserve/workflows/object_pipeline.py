"""Object Classification's way from one lane's inputs to objects, features and predictions,
for any box of any frame: the whole frame (the normal export sources) or one block with its
halo (the blockwise ones).

- objects: the segmentation source of the variant (shared/notes/object-classification.md §2):
  prediction maps are thresholded, a binary segmentation is labelled, a label image is
  renumbered (its original ids kept as the `original_oid` default feature, as ilastik's
  `opObjectExtraction.py:745-749` adds them), and the pixel-classification variant first runs
  its pixel stage tile by tile (`stages.StageChain`) and thresholds the probabilities;
- features: `objects.features.compute_object_features` on the raw data of the same box;
- prediction: `objects.classify` on the features the classifier selects.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from ..blocks import iter_blocks, map_blocks
from ..classifiers import ForestEnsemble
from ..objects.catalog import DEFAULT, FeatureSelection
from ..objects.classify import feature_matrix, predict_objects
from ..objects.features import compute_object_features
from ..objects.segmentation import label_segmentation, relabel_label_image, threshold
from ..project.object_classification import ObjectClassificationProject
from .stages import Stage, StageChain
from .volume import Box, Volume

PREDICTION_MAPS = "Prediction Maps"
SEGMENTATION_IMAGE = "Segmentation Image"
LABEL_IMAGE = "Label Image"
#: The default feature ilastik adds for label-image input: each object's id in the input.
ORIGINAL_ID = "original_oid"


@dataclass
class FrameObjects:
    """One box of one frame: object ids 1..N (0 background), and for label images the id
    each object had in the input ((N + 1, 2) of (original, new), row 0 the background)."""

    labels: np.ndarray
    id_map: np.ndarray | None = None

    @property
    def count(self) -> int:
        return int(self.labels.max()) if self.labels.size else 0


class ObjectPipeline:
    """A loaded project's segmentation, features and classifier (shared by its lanes)."""

    def __init__(self, model: ObjectClassificationProject, pixel_stage: Stage | None):
        self.model = model
        self.pixel_stage = pixel_stage
        self.ensemble = ForestEnsemble(list(model.forests)) if model.forests else None

    def features(self, raw: np.ndarray, objects: FrameObjects, selection: FeatureSelection, *,
                 threads: int = 1) -> dict[str, dict[str, np.ndarray]]:
        """ilastik's features of one box (raw (z, y, x, c)), default features included."""
        features = compute_object_features(raw, objects.labels, selection,
                                           coord_maximum_exclusive=self.model.coord_maximum_exclusive,
                                           threads=threads)
        if objects.id_map is not None:
            features[DEFAULT][ORIGINAL_ID] = objects.id_map[:, :1].copy()
        return features

    def predict(self, features: dict[str, dict[str, np.ndarray]], *,
                threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities float32 (N + 1, K), classes (N + 1,)); row 0 is the background."""
        matrix = feature_matrix(features, self.model.selected_features)
        return predict_objects(self.ensemble, matrix, self.model.known_labels, self.model.n_classes,
                               threads=threads)


class LaneSegmenter:
    """The objects of any box of one lane, from its raw data and segmentation source."""

    def __init__(self, pipeline: ObjectPipeline, raw: Volume, source: Volume | None):
        self.pipeline = pipeline
        self.raw = raw
        self.source = source
        self.chain = (StageChain([pipeline.pixel_stage], raw, None, raw.shape[1])
                      if pipeline.pixel_stage is not None else None)
        # Pixel-stage tiles: big enough that the features' halo costs little, small enough
        # that a tile's feature stack stays around 64 MB.
        if self.chain is not None:
            n_features = max(1, pipeline.pixel_stage.n_features)
            edge = int(max(64, min(1024, np.sqrt((64 << 20) / (4 * n_features)))))
            depth = max(1, (64 << 20) // (4 * n_features * edge * edge))
            self.tile_zyx = (depth if raw.shape[1] > 1 else 1, edge, edge)

    def bytes_per_pixel(self) -> int:
        """Memory one pixel of a box costs while its objects are found and measured: the raw
        data as read and as float32 (the feature code copies it), the segmentation source (or
        the pixel stage's probabilities) as float32 and smoothed, the labels (uint32, and the
        labelling's scratch) and the feature code's pixel index (int64)."""
        source_channels = self.source.channels if self.source is not None else self.pipeline.model.n_classes
        return self.raw.channels * (self.raw.dtype.itemsize + 8) + 8 * source_channels + 8 + 8

    def objects(self, t: int, box: Box, *, threads: int = 1, pool: Executor | None = None,
                cancel: threading.Event | None = None) -> FrameObjects:
        model = self.pipeline.model
        role = model.segmentation_role
        if role == LABEL_IMAGE:
            labels, id_map = relabel_label_image(self.source.read(t, box))
            return FrameObjects(labels, id_map)
        if role == SEGMENTATION_IMAGE:
            return FrameObjects(label_segmentation(self.source.read(t, box)))
        if role == PREDICTION_MAPS:
            probabilities = self.source.read(t, box)
        else:
            probabilities = self.pixel_probabilities(t, box, threads=threads, pool=pool, cancel=cancel)
        return FrameObjects(threshold(probabilities, model.threshold))

    def pixel_probabilities(self, t: int, box: Box, *, threads: int = 1, pool: Executor | None = None,
                            cancel: threading.Event | None = None) -> np.ndarray:
        """The pixel stage's probabilities (z, y, x, K) of a box, computed tile by tile."""
        stage = self.chain.stage(1)
        out = np.empty(box.shape + (stage.n_classes,), dtype=np.float32)
        starts = tuple(start for start, _ in box.ranges)
        stops = tuple(stop for _, stop in box.ranges)

        def compute(start, stop):
            return self.chain.probabilities(1, t, Box(*zip(start, stop)))

        def store(start, stop, values):
            out[tuple(slice(a - o, b - o) for a, b, o in zip(start, stop, starts))] = values

        map_blocks(compute, iter_blocks(starts, stops, self.tile_zyx), store, max(1, threads),
                   pool=pool, cancel=cancel)
        return out
