"""From prediction maps, segmentations or label images to ilastik's object label image.

All functions work on one time frame: (z, y, x[, c]) numpy arrays, 2D when z == 1. The result
is always a uint32 (z, y, x) image with objects 1..N numbered by first appearance in scan
order (x fastest), as ilastik's `OpLabelVolume` / `OpRelabelConsecutive` leave it.

Thresholding (`ilastik/applets/thresholdTwoLevels/opThresholdTwoLevels.py`,
`thresholdingTools.py`):
- probabilities are cast to float32 and every channel is smoothed with vigra's
  `gaussianSmoothing(window_size=2.0)` along the axes longer than 1 (x, then y, then z; mirror
  border without repeating the edge pixel); if any used sigma is < 0.1 nothing is smoothed
  (`thresholdingTools.py:105-108`);
- simple: `smoothed[Channel] >= LowThreshold`, compared in float32 (numpy casts the Python
  threshold to the array's dtype), direct-neighbour components, size filter;
- hysteresis: cores = size-filtered components of `smoothed[CoreChannel] >= HighThreshold`;
  candidates = components of `>= LowThreshold` on `smoothed[Channel]`, or on the float32 sum
  of both smoothed channels when they differ (`opThresholdTwoLevels.py:216-225`); candidates
  touching a surviving core are kept and size-filtered again;
- size filter (`lazyflow/operators/opFilterLabels.py:71-93`): components with
  size < MinSize or > MaxSize are removed (sizes counted over the whole frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import UserError
from ..features.kernels import FILTER_WINDOW, gaussian_kernel
from .components import label_components

SIMPLE = 0
HYSTERESIS = 1
_METHOD_NAMES = {0: "simple", 1: "hysteresis", 2: "graph cut", 3: "IPHT"}
# ilastik skips smoothing when any sigma of a used axis is below this (thresholdingTools.py:105).
_MIN_SIGMA = 0.1


@dataclass(frozen=True)
class ThresholdSettings:
    """ilastik's ThresholdTwoLevels applet settings (defaults as in opThresholdTwoLevels.py:70-77)."""

    method: int = SIMPLE
    channel: int = 0
    core_channel: int = 0
    low_threshold: float = 0.5
    high_threshold: float = 0.8
    min_size: int = 10
    max_size: int = 1_000_000
    sigma_zyx: tuple[float, float, float] = (1.0, 1.0, 1.0)


def smooth(volume: np.ndarray, sigma_zyx: tuple[float, float, float]) -> np.ndarray:
    """One channel (z, y, x) as float32, smoothed the way ilastik's threshold applet does."""
    data = np.asarray(volume, dtype=np.float32)
    axes = [axis for axis in (2, 1, 0) if data.shape[axis] > 1]
    if not axes or any(sigma_zyx[axis] < _MIN_SIGMA for axis in axes):
        return data
    out = data
    for axis in axes:
        kernel = gaussian_kernel(sigma_zyx[axis], 0, FILTER_WINDOW)
        if kernel.size > 1:
            out = ndimage.correlate1d(out, kernel, axis=axis, mode="mirror", output=np.float32)
    return out


def threshold(probabilities: np.ndarray, settings: ThresholdSettings) -> np.ndarray:
    """The object label image (uint32 (z, y, x)) of one frame of a prediction map (z, y, x, c)."""
    data = np.asarray(probabilities)
    if data.ndim != 4:
        raise UserError(f"Thresholding needs a (z, y, x, c) frame, got {data.ndim} axes. "
                        "Fix: pass one time frame with its channel axis.")
    if settings.method not in (SIMPLE, HYSTERESIS):
        name = _METHOD_NAMES.get(settings.method, str(settings.method))
        raise UserError(f"The project thresholds with the {name} method, which pixelserve does not "
                        "implement. Fix: choose 'Simple' or 'Hysteresis' in ilastik's Threshold and "
                        "Size Filter applet and save the project.")
    used = {settings.channel} | ({settings.core_channel} if settings.method == HYSTERESIS else set())
    if max(used) >= data.shape[3] or min(used) < 0:
        raise UserError(f"The project thresholds channel {max(used)} but the prediction map has "
                        f"{data.shape[3]} channel(s). Fix: pass the prediction map the project "
                        "was trained with (same number of classes).")
    smoothed = {c: smooth(data[..., c], settings.sigma_zyx) for c in sorted(used)}
    low = np.float32(settings.low_threshold)
    if settings.method == SIMPLE:
        labels, _ = label_components(smoothed[settings.channel] >= low)
        return _consecutive(*_size_filtered(labels, settings))
    cores, _ = label_components(smoothed[settings.core_channel] >= np.float32(settings.high_threshold))
    cores, core_keep = _size_filtered(cores, settings)
    final_input = smoothed[settings.channel]
    if settings.channel != settings.core_channel:
        final_input = final_input + smoothed[settings.core_channel]
    candidates, count = label_components(final_input >= low)
    touching = np.zeros(count + 1, dtype=bool)
    touching[candidates[core_keep[cores]]] = True
    touching[0] = False
    candidates = np.where(touching[candidates], candidates, 0).astype(np.uint32)
    return _consecutive(*_size_filtered(candidates, settings))


def _size_filtered(labels: np.ndarray, settings: ThresholdSettings) -> tuple[np.ndarray, np.ndarray]:
    """(labels, keep) where keep[id] says whether the component survives the size filter."""
    sizes = np.bincount(labels.reshape(-1))
    keep = (sizes >= settings.min_size) & (sizes <= settings.max_size)
    keep[0] = False
    return labels, keep


def _consecutive(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Drop the components `keep` rejects and renumber the rest 1..N, keeping their order
    (removing whole components neither merges nor reorders the others)."""
    new_ids = np.where(keep, np.cumsum(keep), 0).astype(np.uint32)
    return new_ids[labels]


def label_segmentation(segmentation: np.ndarray) -> np.ndarray:
    """Objects of one frame (z, y, x) of a segmentation: every connected region of one
    non-zero value is an object (`vigra.analysis.labelVolumeWithBackground`)."""
    data = _integer_frame(segmentation, "segmentation")
    labels, _ = label_components(data)
    return labels


def relabel_label_image(label_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, id_map) of one frame (z, y, x) of a label image, as
    `vigra.analysis.relabelConsecutive(start_label=1, keep_zeros=True)`: ids renumbered 1..N in
    order of first appearance, 0 stays 0, a label in several pieces stays one object.
    id_map is int64 (N + 1, 2) of (original id, new id), starting with (0, 0)."""
    data = _integer_frame(label_image, "label image")
    originals, first, inverse = np.unique(data.reshape(-1), return_index=True, return_inverse=True)
    foreground = np.flatnonzero(originals != 0)
    by_appearance = foreground[np.argsort(first[foreground], kind="stable")]
    new_ids = np.zeros(originals.size, dtype=np.uint32)
    new_ids[by_appearance] = np.arange(1, by_appearance.size + 1, dtype=np.uint32)
    id_map = np.zeros((by_appearance.size + 1, 2), dtype=np.int64)
    id_map[1:, 0] = originals[by_appearance]
    id_map[1:, 1] = np.arange(1, by_appearance.size + 1)
    return new_ids[inverse].reshape(data.shape), id_map


def _integer_frame(image: np.ndarray, what: str) -> np.ndarray:
    data = np.asarray(image)
    if data.ndim == 4:
        if data.shape[3] != 1:
            raise UserError(f"A {what} has one channel, got {data.shape[3]}. Fix: pass the "
                            f"{what} itself, not the raw data or a prediction map.")
        data = data[..., 0]
    if data.ndim != 3:
        raise UserError(f"A {what} frame needs axes (z, y, x), got {data.ndim} axes.")
    if data.dtype.kind not in "biu":
        raise UserError(f"The {what} has values of type {data.dtype}, but object ids must be "
                        f"integers. Fix: export the {what} as an integer image (e.g. uint8 or "
                        "uint32), not as probabilities.")
    if data.dtype.kind == "i" and data.size and data.min() < 0:
        raise UserError(f"The {what} has negative values; object ids must be >= 0 (0 is "
                        "background). Fix: pass an unsigned integer image.")
    return data
