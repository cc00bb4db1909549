"""Blockwise Object Predictions and Probabilities: objects found, measured and classified
block by block, so that memory is bounded by the block, not the image.

As ilastik's `OpBlockwiseObjectClassification`
(`ilastik/applets/blockwiseObjectClassification/opBlockwiseObjectClassification.py`): the
image is cut into blocks of the project's block shape on a grid anchored at 0 (one time
frame each); each block is widened by the project's halo (clipped to the image), its objects
are found and measured in that box with the classifier's selected features, classified, and
only the block itself is written. An object cut by the halo's border gets the features of
its part inside the box, as in ilastik.

One difference: ilastik thresholds the prediction maps of the whole frame before cutting
blocks (its threshold output is cached per frame), which needs the whole frame in memory;
here the halo box itself is smoothed and thresholded. Objects whose box, plus the smoothing
radius, lies inside the halo box come out the same; on an image smaller than one block the
box is the whole image and every result equals the whole-image source.
"""

from __future__ import annotations

import math

import numpy as np

from ..blocks import iter_blocks
from ..export.result import ResultSource
from ..project.object_classification import BlockwiseSettings
from .base import canonical_region, default_output_axis_order, result_axes, to_result_axes
from .object_pipeline import LaneSegmenter
from .volume import Box

BLOCKWISE_PREDICTIONS = "Blockwise Object Predictions"
BLOCKWISE_PROBABILITIES = "Blockwise Object Probabilities"


class BlockwiseObjects(ResultSource):
    """One of the two blockwise sources of one lane (block-local)."""

    def __init__(self, segmenter: LaneSegmenter, source: str, settings: BlockwiseSettings):
        self.segmenter = segmenter
        raw = segmenter.raw
        model = segmenter.pipeline.model
        self.probabilities = source == BLOCKWISE_PROBABILITIES
        channels = model.n_classes if self.probabilities else 1
        self.dtype = np.dtype(np.float32 if self.probabilities else np.uint8)
        self.axes = result_axes(raw)
        self._shape5 = raw.shape[:4] + (channels,)
        self.shape = tuple(self._shape5["tzyxc".index(a)] for a in self.axes)
        self.block_zyx = tuple(min(n, b) for n, b in zip(raw.spatial_shape, settings.block_shape_zyx))
        self.halo_zyx = tuple(settings.halo_zyx)
        block5 = (1, *self.block_zyx, channels)
        self.block_shape = tuple(block5["tzyxc".index(a)] for a in self.axes)
        self.default_axis_order = default_output_axis_order(raw)
        self.resolution = raw.resolution
        if self.probabilities:
            self.channel_names = tuple(model.label_names)
            self.channel_colors = tuple(tuple(int(v) for v in color) for color in model.pmap_colors)
            self.drange = (0.0, 1.0)
        else:
            self.channel_names = (source,)
            self.label_colors = tuple(tuple(int(v) for v in color) for color in model.label_colors)

    def compute(self, start, stop) -> np.ndarray:
        region = canonical_region(self.axes, start, stop, self._shape5)
        zyx_start = tuple(region[a][0] for a in "zyx")
        zyx_stop = tuple(region[a][1] for a in "zyx")
        c0, c1 = region["c"]
        t0, t1 = region["t"]
        out = np.zeros((t1 - t0, *(b - a for a, b in zip(zyx_start, zyx_stop)), c1 - c0), dtype=self.dtype)
        spatial = self.segmenter.raw.spatial_shape
        for t in range(t0, t1):
            for part_start, part_stop in iter_blocks(zyx_start, zyx_stop, self.block_zyx):
                # the project block holding this part, computed whole (its objects need it)
                block = Box(*((s - s % b, min(n, s - s % b + b))
                              for s, b, n in zip(part_start, self.block_zyx, spatial)))
                values = self._block(t, block)
                inside = tuple(slice(a - s, b - s) for a, b, (s, _) in zip(part_start, part_stop, block.ranges))
                target = tuple(slice(a - o, b - o) for a, b, o in zip(part_start, part_stop, zyx_start))
                out[(t - t0, *target)] = values[inside][..., c0:c1]
        return to_result_axes(out, self.axes)

    def _block(self, t: int, block: Box) -> np.ndarray:
        """The result of one project block (z, y, x, c), from its halo box."""
        segmenter = self.segmenter
        pipeline = segmenter.pipeline
        halo = block.grown(self.halo_zyx, segmenter.raw.spatial_shape)
        objects = segmenter.objects(t, halo)
        features = pipeline.features(segmenter.raw.read(t, halo), objects, pipeline.model.selected_features)
        probabilities, classes = pipeline.predict(features)
        labels = objects.labels[block.relative_to(halo)]
        if self.probabilities:
            return probabilities[labels]
        return classes.astype(np.uint8)[labels][..., None]

    def block_working_bytes(self) -> int:
        """One halo box being computed, and the block's result."""
        halo_pixels = math.prod(min(n, b + 2 * h) for n, b, h in
                                zip(self.segmenter.raw.spatial_shape, self.block_zyx, self.halo_zyx))
        block_pixels = math.prod(self.block_zyx)
        return halo_pixels * self.segmenter.bytes_per_pixel() + block_pixels * self._shape5[4] * self.dtype.itemsize
