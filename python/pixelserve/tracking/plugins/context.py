"""What the export plugins get: ilastik's hypotheses graph and PluginExportContext, our way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...project.tracking import TrackingParameters
from ..lineage import NO_ID, Lineage, SolvedGraph
from ..relabel import FeatureTable


@dataclass
class TrackingExport:
    """A solved, numbered movie and the data ilastik's plugins read.

    label_frame(t): the (z, y, x) label image the plugins see (ilastik's RelabeledImage, i.e.
    with resolved mergers split, when merger resolution ran; else the object labels);
    features(t): that frame's object features by plugin (with division and relabelled merger
    features where ilastik adds them); raw_frame(t): the raw frame as (z, y, x, c), needed by
    Contours-With-Head only."""

    graph: SolvedGraph
    lineage: Lineage
    n_frames: int
    parameters: TrackingParameters
    label_frame: Callable[[int], np.ndarray]
    features: Callable[[int], FeatureTable] | None = None
    raw_frame: Callable[[int], np.ndarray] | None = None
    bdv_file: str | None = None          # Fiji-MaMuT: the BigDataViewer XML of the raw data
    seed: int = 0                        # Fiji-MaMuT's random track colours (ilastik: unseeded)

    def frame_nodes(self, frame: int) -> np.ndarray:
        return np.flatnonzero(self.graph.frame == frame)

    def node_of(self) -> dict[tuple[int, int], int]:
        return self.graph.node_index()

    def need_features(self, plugin: str) -> Callable[[int], FeatureTable]:
        if self.features is None:
            raise ValueError(f"the {plugin} export needs the object features")
        return self.features

    def track_or_none(self, node: int) -> int | None:
        track = int(self.lineage.track[node])
        return None if track == NO_ID else track

    def lineage_or_none(self, node: int) -> int | None:
        value = int(self.lineage.lineage[node])
        return None if value == NO_ID else value
