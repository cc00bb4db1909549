"""Density prediction block by block, and the count (the density's sum) as ilastik computes it.

Prediction (`applets/counting/countingOperators.py` OpPredictCounter, `countingsvr.py`
SVR.predict, `opCounting.py` OpMean): every regressor predicts every pixel from its float32
features; each prediction is rounded to float32 with negatives set to 0; the density is the
float32 mean of the regressors' outputs. Features of a box are computed on the box widened
by the feature halo (clipped at the image border), so a box's density equals the whole
image's density on it, and memory follows the box, not the image.

The count (`opCounting.py` OpVolumeOperator with numpy.sum): ilastik sums the density in
tiles of 128 x 128 pixels of its internal x-y order, each tile in float32, then adds the tile
sums in float64 (its output dtype is that of numpy.sum on float64). `DensityCounter` does the
same whatever blocks the density arrives in, so the count never depends on blocking.
"""

from __future__ import annotations

import itertools
import math

import numba
import numpy as np

from ..classifiers.regression import RegressionForests
from ..errors import UserError
from ..features import FeatureSpec, compute_features, feature_count, halo_zyx
from ..project.counting import CountingRegressors
from ..workflows.volume import Box, Volume

COUNT_TILE = 128


def check_counting_input(raw: Volume, specs: list[FeatureSpec], n_features: int) -> None:
    """UserError unless `raw` is a single 2D image whose channels give `n_features` features."""
    t, z = raw.shape[:2]
    if t != 1 or z != 1:
        raise UserError(f"{raw.name} has {t} time points and {z} z slices; Cell Density Counting "
                        "takes single 2D images (ilastik refuses others too). Fix: split the "
                        "frames or slices into 2D images.")
    found = feature_count(specs, raw.channels, 1)
    if found != n_features:
        raise UserError(f"{raw.name} has {raw.channels} channels, which give {found} features; the "
                        f"regressors were trained on {n_features}. Fix: pass images with the "
                        "channels of the project's training image.")


def box_features(raw: Volume, t: int, box: Box, specs: list[FeatureSpec],
                 structure_tensor_order: str) -> np.ndarray:
    """(z, y, x, F) float32 features of a box, computed with the halo they need."""
    padded = box.grown(halo_zyx(specs, raw.shape[1], structure_tensor_order), raw.spatial_shape)
    return compute_features(raw.read(t, padded), specs,
                            structure_tensor_order=structure_tensor_order,
                            depth=raw.shape[1], interior=box.relative_to(padded))


class DensityPredictor:
    """Trained regressors compiled for prediction, with the features they need; read-only
    and thread-safe, so one instance serves every block and image of a project."""

    def __init__(self, regressors: CountingRegressors, specs: list[FeatureSpec],
                 structure_tensor_order: str):
        self.specs = list(specs)
        self.structure_tensor_order = structure_tensor_order
        self.n_features = regressors.n_features
        self.forests = RegressionForests(regressors.regressors, regressors.n_features)

    def density_from_features(self, features: np.ndarray, threads: int = 1) -> np.ndarray:
        """(..., 1) float32 density of (..., F) float32 features."""
        rows = features.reshape(-1, features.shape[-1])
        density = clipped_mean(self.forests.predict(rows, threads=threads))
        return density.reshape(features.shape[:-1] + (1,))

    def density(self, raw: Volume, box: Box, threads: int = 1) -> np.ndarray:
        """(z, y, x, 1) float32 density of a box of a 2D image (check it with
        `check_counting_input` first)."""
        features = box_features(raw, 0, box, self.specs, self.structure_tensor_order)
        return self.density_from_features(features, threads)


class DensityCounter:
    """Adds up a (y, x) density arriving in arbitrary boxes, exactly as ilastik sums it.

    A tile's float32 sum is taken once all its pixels have arrived; tiles split over several
    boxes wait in a buffer (at most the tiles along box edges)."""

    def __init__(self, shape_yx: tuple[int, int]):
        self.shape = tuple(int(n) for n in shape_yx)
        self.tiles = tuple(math.ceil(n / COUNT_TILE) for n in self.shape)
        self._sums: dict[tuple[int, int], np.float32] = {}
        self._partial: dict[tuple[int, int], tuple[np.ndarray, int]] = {}

    def _tile_box(self, ty: int, tx: int) -> tuple[int, int, int, int]:
        y0, x0 = ty * COUNT_TILE, tx * COUNT_TILE
        return y0, min(y0 + COUNT_TILE, self.shape[0]), x0, min(x0 + COUNT_TILE, self.shape[1])

    def add(self, y: tuple[int, int], x: tuple[int, int], density: np.ndarray) -> None:
        """Take the density (y1-y0, x1-x0) float32 of rows y and columns x (each pixel once)."""
        density = np.asarray(density, dtype=np.float32).reshape(y[1] - y[0], x[1] - x[0])
        for ty in range(y[0] // COUNT_TILE, math.ceil(y[1] / COUNT_TILE)):
            for tx in range(x[0] // COUNT_TILE, math.ceil(x[1] / COUNT_TILE)):
                ty0, ty1, tx0, tx1 = self._tile_box(ty, tx)
                a0, a1, b0, b1 = max(ty0, y[0]), min(ty1, y[1]), max(tx0, x[0]), min(tx1, x[1])
                part = density[a0 - y[0]:a1 - y[0], b0 - x[0]:b1 - x[0]]
                if (a0, a1, b0, b1) == (ty0, ty1, tx0, tx1):
                    self._sums[ty, tx] = _tile_sum(part)
                    continue
                buffer, filled = self._partial.pop((ty, tx), (None, 0))
                if buffer is None:
                    buffer = np.zeros((ty1 - ty0, tx1 - tx0), np.float32)
                buffer[a0 - ty0:a1 - ty0, b0 - tx0:b1 - tx0] = part
                filled += part.size
                if filled == buffer.size:
                    self._sums[ty, tx] = _tile_sum(buffer)
                else:
                    self._partial[ty, tx] = (buffer, filled)

    def total(self) -> float:
        """The count; every pixel must have been added."""
        missing = self.tiles[0] * self.tiles[1] - len(self._sums)
        if missing:
            raise ValueError(f"{missing} tiles of the density have not (fully) arrived")
        # ilastik's tile grid runs over its internal x-y order: x tiles outermost
        order = [(ty, tx) for tx, ty in itertools.product(range(self.tiles[1]),
                                                           range(self.tiles[0]))]
        return float(np.sum(np.array([self._sums[k] for k in order], dtype=np.float64)))


@numba.njit(nogil=True, cache=True)
def clipped_mean(per_regressor: np.ndarray) -> np.ndarray:
    """Row means of (N, R) float32 predictions with negatives set to 0, bit for bit what
    numpy's float32 `mean` over the last axis gives (ilastik's OpMean): a float32 sum from
    left to right, divided by R in float32. 10x faster than numpy's short-axis reduction."""
    n, width = per_regressor.shape
    out = np.empty(n, np.float32)
    divisor = np.float32(width)
    for i in range(n):
        total = np.float32(0.0)
        for k in range(width):
            total += max(per_regressor[i, k], np.float32(0.0))
        out[i] = total / divisor
    return out


def _tile_sum(tile: np.ndarray) -> np.float32:
    """numpy's float32 sum of the tile in ilastik's x-y memory order."""
    return np.sum(np.ascontiguousarray(tile.T), dtype=np.float32)
