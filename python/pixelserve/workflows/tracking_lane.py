"""One lane of Tracking: the movie's objects, detections and tracks, computed once
(`TrackingLane`), then read by the label images (`TrackingImage`), the table "tracks" and the
export plugins.

Frames are read one after another. A frame's objects (the segmentation source thresholded or
labelled, as ilastik's object extraction does) and features are computed when it is read; its
division features need the next frame's objects too, so two frames are held at a time, then
only the frame's per-object features and detections stay. Label images are not kept: a frame's
labels are computed again from the inputs when an image block, merger resolution or a plugin
asks for them (a small cache holds the last frames), so memory stays bounded by a few frames
whatever the movie's length.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..blocks import Cancelled
from ..classifiers import ForestEnsemble
from ..export.label_palette import glasbey_colors
from ..objects.catalog import DEFAULT, DIVISION, STANDARD, FeatureSelection
from ..objects.features import compute_object_features
from ..objects.segmentation import label_segmentation, threshold
from ..project.tracking import TrackingParameters, TrackingProject
from ..tracking.detections import Detections, classifier_probabilities, frame_detections
from ..tracking.division_features import cell_division_features
from ..tracking.pipeline import TrackingResult, track_detections
from ..tracking.plugins import TrackingExport
from ..tracking.plugins.tables import csv_table
from ..tracking.relabel import FeatureTable, features_with_split_mergers, id_table, relabel, split_mergers
from .base import canonical_region, default_output_axis_order, result_axes, to_result_axes
from .lane import LaneState, LaneWideResult
from .volume import Box, Volume

TRACKING_RESULT = "Tracking-Result"
MERGER_RESULT = "Merger-Result"
OBJECT_IDENTITIES = "Object-Identities"
LABEL_SOURCES = (TRACKING_RESULT, MERGER_RESULT, OBJECT_IDENTITIES)
TRACKING_STAGES = ("graph", "energies", "solve", "lineage")
_CACHED_FRAMES = 2


@dataclass
class TrackingModel:
    """A loaded tracking project: its settings and compiled classifiers (shared by its lanes)."""

    project: TrackingProject
    source_role: str                 # the segmentation source's role name ("Binary Image", ...)
    coord_maximum_exclusive: bool
    count: ForestEnsemble = field(init=False)
    division: ForestEnsemble | None = field(init=False)

    def __post_init__(self):
        self.count = ForestEnsemble(self.project.count_classifier.forests)
        classifier = self.project.division_classifier
        self.division = ForestEnsemble(classifier.forests) if classifier is not None else None

    def ensembles(self) -> list[ForestEnsemble]:
        return [self.count] + ([self.division] if self.division is not None else [])


class TrackingLane(LaneState):
    """Objects, detections and the solved, numbered tracks of one movie."""

    def __init__(self, model: TrackingModel, raw: Volume, source: Volume, parameters: TrackingParameters, *,
                 solver: str, selection: FeatureSelection):
        super().__init__()
        self.model = model
        self.raw = raw
        self.source = source
        self.parameters = parameters
        self.solver = solver
        self.selection = selection
        self.features: list[FeatureTable] = []     # per frame, division features included
        self.result: TrackingResult | None = None
        self._labels: OrderedDict[int, np.ndarray] = OrderedDict()
        self._labels_lock = threading.Lock()
        self._threads = 1

    @property
    def n_frames(self) -> int:
        return self.raw.time_points

    def compute(self, progress, *, threads: int, pool, cancel: threading.Event | None) -> None:
        self._threads = max(1, threads)
        total = self.n_frames + len(TRACKING_STAGES)
        parts: list[Detections] = []
        pending: tuple[int, FeatureTable] | None = None
        for t in range(self.n_frames):
            _check(cancel)
            progress(t, total, f"objects: frame {t + 1} of {self.n_frames}")
            labels = self.label_frame(t)
            features = compute_object_features(self.raw.read(t, Box.whole(self.raw.spatial_shape)), labels,
                                               self.selection, threads=self._threads,
                                               coord_maximum_exclusive=self.model.coord_maximum_exclusive)
            if pending is not None:
                parts.append(self._detections(*pending, following=features, labels_following=labels))
            pending = (t, features)
        parts.append(self._detections(*pending, following=None, labels_following=None))

        started: list[str] = []

        def stage_progress(stage: str, done: int, stage_total: int) -> None:
            if stage not in started:        # once per stage, when it starts
                started.append(stage)
                progress(self.n_frames + TRACKING_STAGES.index(stage), total, stage)

        self.result = track_detections(Detections.concatenate(parts), self.parameters, self.label_frame,
                                       method=self.solver, progress=stage_progress, cancel=cancel)
        progress(total, total, "tracks done")

    def _detections(self, t: int, features: FeatureTable, *, following: FeatureTable | None,
                    labels_following: np.ndarray | None) -> Detections:
        """Frame t's detections; its division features need frame t + 1 (ilastik's
        OpDivisionFeatures looks one frame ahead)."""
        project = self.model.project
        division = None
        if self.model.division is not None:
            features[DIVISION] = cell_division_features(
                _standard(features), _standard(following) if following is not None else None, labels_following,
                project.division_features, t, self.n_frames)
            division = classifier_probabilities(self.model.division, project.division_classifier, features)
        count = classifier_probabilities(self.model.count, project.count_classifier, features)
        self.features.append(features)
        return frame_detections(t, features, count, division, self.parameters)

    # -- frames ---------------------------------------------------------------------------------
    def label_frame(self, t: int) -> np.ndarray:
        """Frame t's object labels (z, y, x), as ilastik's object extraction gives them: the
        prediction maps thresholded, or the binary segmentation's connected components."""
        with self._labels_lock:
            if t in self._labels:
                self._labels.move_to_end(t)
                return self._labels[t]
        data = self.source.read(t, Box.whole(self.source.spatial_shape))
        threshold_settings = self.model.project.threshold
        labels = threshold(data, threshold_settings) if threshold_settings is not None else label_segmentation(data)
        with self._labels_lock:
            self._labels[t] = labels
            while len(self._labels) > _CACHED_FRAMES:
                self._labels.popitem(last=False)
        return labels

    def identities(self, t: int) -> np.ndarray:
        """Frame t's labels with resolved mergers split (ilastik's RelabeledImage)."""
        self.require()
        labels = self.label_frame(t)
        fits = self.result.mergers.get(t)
        return split_mergers(labels, fits) if fits else labels

    def plugin_features(self, t: int) -> FeatureTable:
        """What ilastik's plugins read of frame t (opConservationTracking._create_plugin_export_context):
        after merger resolution the features without division features, with the split objects'
        rows added; else with division features when divisions are tracked."""
        self.require()
        features = self.features[t]
        if self.parameters.with_merger_resolution:
            plain = {plugin: arrays for plugin, arrays in features.items() if plugin != DIVISION}
            if t not in self.result.mergers:
                return plain
            return features_with_split_mergers(plain, self.raw.read(t, Box.whole(self.raw.spatial_shape)),
                                               self.label_frame(t), self.identities(t), threads=self._threads,
                                               coord_maximum_exclusive=self.model.coord_maximum_exclusive)
        return features

    def plugin_export(self, bdv_file: str | None = None) -> TrackingExport:
        """What the export plugins get (ilastik's hypotheses graph and PluginExportContext)."""
        self.require()
        labels = self.identities if self.parameters.with_merger_resolution else self.label_frame
        return TrackingExport(self.result.graph, self.result.lineage, self.n_frames, self.parameters, labels,
                              self.plugin_features, lambda t: self.raw.read(t, Box.whole(self.raw.spatial_shape)),
                              bdv_file=bdv_file)

    def track_table(self) -> dict[str, np.ndarray]:
        """The table "tracks": the CSV-Table plugin's columns."""
        return csv_table(self.plugin_export())

    def frame_bytes(self) -> int:
        return 4 * math.prod(self.raw.spatial_shape)


def _standard(features: FeatureTable) -> dict[str, np.ndarray]:
    """A frame's Standard Object Features, with the default features they may lack."""
    return {**features[DEFAULT], **features.get(STANDARD, {})}


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


class TrackingImage(LaneWideResult):
    """Tracking-Result (lineage ids, 1 for false detections), Merger-Result (the same for
    mergers only) or Object-Identities (object labels, mergers split): uint32, one frame per
    block; objects tracking filtered out are 0 in the first two."""

    def __init__(self, state: TrackingLane, source: str):
        super().__init__(state)
        raw = state.raw
        self.source = source
        self.dtype = np.dtype(np.uint32)
        self.axes = result_axes(raw)
        self._shape5 = raw.shape[:4] + (1,)
        self.shape = tuple(self._shape5["tzyxc".index(a)] for a in self.axes)
        self.block_shape = tuple(1 if a == "t" else n for a, n in zip(self.axes, self.shape))
        self.default_axis_order = default_output_axis_order(raw)
        self.resolution = raw.resolution
        self.channel_names = (source,)
        # lineage (or object) ids in distinct colours; Fiji colours its track overlay from the same table
        self.label_colors = glasbey_colors()

    def compute(self, start, stop) -> np.ndarray:
        state = self.state
        state.require()
        region = canonical_region(self.axes, start, stop, self._shape5)
        box = tuple(slice(*region[a]) for a in "zyx")
        planes = []
        for t in range(*region["t"]):
            labels = state.identities(t)
            if self.source != OBJECT_IDENTITIES:
                result = state.result
                table = id_table(result.graph, result.lineage, t, int(labels.max(initial=0)),
                                 mergers_only=self.source == MERGER_RESULT, resolved=result.mergers)
                labels = relabel(labels, table)
            planes.append(labels[box].astype(np.uint32)[..., None])
        return to_result_axes(np.stack(planes), self.axes)

    def block_working_bytes(self) -> int:
        # the frame's labels, their split and relabelled copies, and the block
        return 4 * self.state.frame_bytes() + 4 * math.prod(self.block_shape)

    def lane_bytes(self) -> int:
        return _CACHED_FRAMES * self.state.frame_bytes()
