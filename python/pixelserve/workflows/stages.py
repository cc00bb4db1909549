"""The chain of pixel-classification stages (one for Pixel Classification, several for
Autocontext), computed for one box of one time point.

Each stage's features need context around the box (the halo); stage k's input includes
stage k-1's probabilities, so a box of stage k asks stage k-1 for the box widened by stage
k's halo. Boxes are clipped at the image border, where the filters mirror exactly as they do
on the whole image, so blockwise results equal whole-image results.
"""

from __future__ import annotations

import logging

import numpy as np

from ..classifiers import ForestEnsemble
from ..errors import ProjectError
from ..features import compute_features, feature_count, feature_names, halo_zyx
from ..project.pixel_classification import StageModel
from .volume import Box, Volume

logger = logging.getLogger(__name__)


class Stage:
    """A trained stage: its features, forest ensemble and label bookkeeping."""

    def __init__(self, model: StageModel, n_input_channels: int, depth: int,
                 structure_tensor_order: str, project_name: str):
        self.model = model
        self.index = model.index
        self.specs = model.feature_specs
        self.n_input_channels = n_input_channels
        self.structure_tensor_order = structure_tensor_order
        self.ensemble = ForestEnsemble(model.forests)
        self.n_features = feature_count(self.specs, n_input_channels, depth)
        if self.n_features != self.ensemble.n_features:
            raise ProjectError(
                f"{project_name} stage {self.index}: the selected features give "
                f"{self.n_features} values per pixel for {n_input_channels}-channel input, but its "
                f"classifier was trained on {self.ensemble.n_features}. The project is "
                "inconsistent (features changed after training?). Fix: retrain it in ilastik."
            )
        expected_names = feature_names(self.specs, n_input_channels, depth)
        self.feature_names = expected_names
        if model.stored_feature_names and model.stored_feature_names != expected_names:
            # The count matches, so prediction can go on; a different order would be a bug.
            logger.warning("%s stage %d: stored feature names differ from the computed ones "
                           "(first stored: %r, computed: %r)", project_name, self.index,
                           model.stored_feature_names[0], expected_names[0])
        labels = model.known_labels
        self.output_channel = labels - 1   # forest column i -> label known_labels[i]

    @property
    def n_classes(self) -> int:
        return self.model.n_classes


class StageChain:
    """Computes any stage's input, features or probabilities for a box of one lane."""

    def __init__(self, stages: list[Stage], raw: Volume, mask: Volume | None, depth: int):
        self.stages = stages
        self.raw = raw
        self.mask = mask
        self.depth = depth
        self.spatial_shape = raw.spatial_shape
        # Context each stage's features need around a box, per axis (z, y, x).
        self.halos = [halo_zyx(s.specs, depth, s.structure_tensor_order) for s in stages]

    def stage(self, index: int) -> Stage:
        return self.stages[index - 1]

    def input_channels(self, index: int) -> int:
        return self.raw.channels + (self.stage(index - 1).n_classes if index > 1 else 0)

    def stage_input(self, index: int, t: int, box: Box) -> np.ndarray:
        """Stage `index`'s input: raw channels, then the previous stage's probabilities
        converted to the raw dtype (as ilastik's autocontext does)."""
        raw = self.raw.read(t, box)
        if index == 1:
            return raw
        previous = self.probabilities(index - 1, t, box)
        return np.concatenate([raw, _to_dtype(previous, raw.dtype)], axis=-1)

    def features(self, index: int, t: int, box: Box) -> np.ndarray:
        stage = self.stage(index)
        padded = box.grown(self.halos[index - 1], self.spatial_shape)
        data = self.stage_input(index, t, padded)
        return compute_features(
            data, stage.specs, structure_tensor_order=stage.structure_tensor_order,
            depth=self.depth, interior=box.relative_to(padded),
        )

    def probabilities(self, index: int, t: int, box: Box) -> np.ndarray:
        stage = self.stage(index)
        features = self.features(index, t, box)
        rows = features.reshape(-1, features.shape[-1])
        forest_output = stage.ensemble.predict_proba(rows)
        result = np.zeros((rows.shape[0], stage.n_classes), dtype=np.float32)
        result[:, stage.output_channel] = forest_output
        result = result.reshape(features.shape[:-1] + (stage.n_classes,))
        if self.mask is not None:
            result *= (self.mask.read(t, box)[..., :1] != 0)
        return result


def _to_dtype(probabilities: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Probabilities in the raw data's dtype: integers scale to the dtype's range and truncate."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        # Identical to ilastik's conversion for the unsigned types; for signed ones this maps
        # [0, 1] onto the whole range instead of overflowing.
        scaled = probabilities.astype(np.float64) * (float(info.max) - float(info.min)) + info.min
        return np.floor(scaled).astype(dtype)
    return probabilities.astype(dtype)
