"""Object features of one time frame, exactly as ilastik computes and caches them.

`compute_object_features(image, labels, selection)` returns
`{plugin: {feature: float32 (n_objects + 1, k)}}` with row 0 (background) zero, like
ilastik's `OpRegionFeatures._extract` (`opObjectExtraction.py:677-835`): the selected
features of each plugin, for every selected `X in neighborhood` also `X in object and
neighborhood`, and the "Default features" (Count, RegionCenter, Coord<Minimum>,
Coord<Maximum>) that ilastik always computes. Coordinates are in vigra's x, y(, z) order;
2D when the frame's z extent is 1.

How: pixels are grouped by object once (a counting sort keeping scan order), then compiled
kernels (`moments`, `neighborhood`, `hull`, `eigen`) walk each object's pixels, box or
bounding box. Threads: the objects are cut into chunks of about equal pixel count and the
chunks run on a thread pool (`threads`); the kernels release the GIL and write disjoint
rows, so results do not depend on the thread count. (A pool of our own rather than numba's
`prange`: numba's default threading layer must not be entered from two threads at once,
which a server handling two requests would do.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from ..errors import ProjectError, UserError
from . import catalog
from .catalog import DEFAULT, DEFAULT_FEATURES, HULL_2D, HULL_3D, SKELETON, STANDARD, FeatureSelection
from .components import JIT
from .eigen import eigensystem_from_flat
from .hull import HULL_COLUMNS, VECTOR_FEATURES, hull_features, hull_width
from .moments import HISTOGRAM_BINS, QUANTILE_LEVELS, coordinate_width, first_pass, group_pixels, histogram_mapping, layout, second_pass, standard_quantiles
from .neighborhood import neighborhood_boxes, neighborhood_statistics, pitch_from_margin
from .skeleton import skeleton_features

_CHUNKS_PER_THREAD = 4


@dataclass
class _Frame:
    """One frame's pixels grouped by object, and the pass-1/2 statistics of every object."""

    labels: np.ndarray        # (Z, Y, X) uint32
    pixels: np.ndarray        # (Z*Y*X, C) float32
    n_objects: int
    dims: int
    chunks: list[tuple[int, int]]
    threads: int
    order: np.ndarray
    starts: np.ndarray
    intensity: np.ndarray = None   # (n + 1, layout(C).width)
    geometry: np.ndarray = None    # (n + 1, coordinate_width(dims)), x, y, z order
    histograms: np.ndarray = None  # (n + 1, 64)
    outliers: np.ndarray = None    # (n + 1, 2)
    global_range: tuple[float, float] = (0.0, 0.0)

    def run(self, kernel) -> None:
        """kernel(first, last) over all object chunks, on the thread pool."""
        if self.threads <= 1 or len(self.chunks) <= 1:
            for first, last in self.chunks:
                kernel(first, last)
            return
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for done in [pool.submit(kernel, first, last) for first, last in self.chunks]:
                done.result()


def compute_object_features(image: np.ndarray, labels: np.ndarray, selection: FeatureSelection, *,
                            coord_maximum_exclusive: bool = True,
                            threads: int = 1) -> dict[str, dict[str, np.ndarray]]:
    """ilastik's object features of one frame.

    image: (z, y, x[, c]) raw data (any numeric type; computed as float32, as ilastik does);
    labels: (z, y, x) object ids 1..N, 0 background. selection: plugin -> feature -> margin
    (as `project.object_classification.read_feature_selection` returns it).
    coord_maximum_exclusive: ilastik >= 1.3.3post2 stores Coord<Maximum> + 1.
    """
    frame = _prepare(image, labels, threads)
    _check_selection(selection, frame)
    _compute_statistics(frame, selection.get(STANDARD, {}))
    result: dict[str, dict[str, np.ndarray]] = {}
    for plugin, features in selection.items():
        result[plugin] = PLUGINS[plugin](frame, features, selection, coord_maximum_exclusive)
    result[DEFAULT] = {name: _standard_value(frame, name, coord_maximum_exclusive)
                       for name in DEFAULT_FEATURES}
    return result


def _prepare(image, labels, threads: int) -> _Frame:
    labels = np.asarray(labels)
    data = np.asarray(image)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    if labels.ndim != 3 or data.ndim != 4 or data.shape[:3] != labels.shape:
        raise UserError(f"Object features need a raw frame (z, y, x[, c]) and a label frame "
                        f"(z, y, x) of the same size, got {data.shape} and {labels.shape}. "
                        "Fix: pass raw data and segmentation of the same image.")
    if labels.dtype.kind not in "biu":
        raise UserError(f"Object ids must be integers, got {labels.dtype}. Fix: pass a label "
                        "image, not probabilities.")
    if data.dtype.kind not in "biuf":
        raise UserError(f"The raw data must be numeric, got {data.dtype}. Fix: pass the image "
                        "itself.")
    if labels.size and labels.dtype.kind == "i" and labels.min() < 0:
        raise UserError("Object ids must be >= 0 (0 is background). Fix: pass an unsigned label image.")
    labels = np.ascontiguousarray(labels, dtype=np.uint32)
    pixels = np.ascontiguousarray(data, dtype=np.float32).reshape(-1, data.shape[3])
    n_objects = int(labels.max()) if labels.size else 0
    if n_objects > labels.size:
        raise UserError(f"Object ids go up to {n_objects} in a frame of {labels.size} pixels. Fix: "
                        "number the objects 1..N (objects.segmentation.relabel_label_image).")
    order, starts = group_pixels(labels.reshape(-1), n_objects)
    return _Frame(labels=labels, pixels=pixels, n_objects=n_objects,
                  dims=2 if labels.shape[0] == 1 else 3,
                  chunks=_chunks(starts, max(1, int(threads))), threads=max(1, int(threads)),
                  order=order, starts=starts)


def _chunks(starts: np.ndarray, threads: int) -> list[tuple[int, int]]:
    """Object ranges [first, last) of about equal pixel count (objects 1..n)."""
    n_objects = starts.size - 2
    if n_objects <= 0:
        return []
    count = min(n_objects, threads * _CHUNKS_PER_THREAD if threads > 1 else 1)
    targets = np.linspace(starts[1], starts[-1], count + 1)[1:-1]
    cuts = np.searchsorted(starts[1:-1], targets) + 1
    bounds = np.unique(np.concatenate([[1], cuts, [n_objects + 1]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _check_selection(selection: FeatureSelection, frame: _Frame) -> None:
    channels = frame.pixels.shape[1]
    for plugin, features in selection.items():
        if plugin not in PLUGINS:
            raise ProjectError(f"The project uses the object feature plugin '{plugin}', which is "
                               "not one of ilastik's built-in plugins. Fix: remove its features "
                               "in ilastik's Object Feature Selection, retrain and save.")
        needs = {HULL_2D: 2, SKELETON: 2, HULL_3D: 3}.get(plugin, frame.dims)
        if needs != frame.dims:
            raise UserError(f"'{plugin}' applies to {needs}D images, "
                            f"but this image is {frame.dims}D. Fix: pass images of the kind the "
                            "project was trained on.")
        known = catalog.available_features(channels, frame.dims).get(plugin, ())
        for name in features:
            base = catalog.local_base(name)
            if plugin == STANDARD and (base or name) in ("Histogram", "Quantiles") and channels > 1:
                raise UserError(f"'{name}' exists for single-channel images only (vigra has no "
                                f"multi-channel histogram), but the raw data has {channels} "
                                "channels. Fix: pass the raw data the project was trained on.")
            valid = name in known or (plugin == STANDARD and (name in catalog.STANDARD_FEATURES
                                                              or base is not None))
            if not valid:
                raise ProjectError(f"'{name}' is not a '{plugin}' feature pixelserve computes "
                                   "(ilastik's advanced vigra features are not supported). Fix: "
                                   "deselect it in ilastik's Object Feature Selection, retrain "
                                   "and save.")


def _compute_statistics(frame: _Frame, standard: dict) -> None:
    """Pass 1 always (the default features need it); pass 2 for what the selection needs."""
    plain = {name for name in standard if catalog.local_base(name) is None}
    channels = frame.pixels.shape[1]
    lay = layout(channels)
    n = frame.n_objects
    frame.intensity = np.zeros((n + 1, lay.width))
    frame.geometry = np.zeros((n + 1, coordinate_width(frame.dims)))
    frame.histograms = np.zeros((n + 1, HISTOGRAM_BINS))
    frame.outliers = np.zeros((n + 1, 2))
    shape = np.array(frame.labels.shape, dtype=np.int64)
    frame.run(lambda a, b: first_pass(frame.order, frame.starts, frame.pixels, lay, shape, a, b,
                                      "PrincipalAxes" in plain, frame.intensity, frame.geometry))
    want_histogram = bool(plain & {"Histogram", "Quantiles"}) and channels == 1
    present = frame.intensity[:, 0] > 0   # vigra's Global<Minimum/Maximum>: labelled pixels only
    if want_histogram and present.any():
        frame.global_range = (float(frame.intensity[present, lay.min].min()),
                              float(frame.intensity[present, lay.max].max()))
    want_scatter = "Covariance" in plain
    if want_histogram or want_scatter or plain & {"Variance", "Skewness", "Kurtosis"}:
        low, high = frame.global_range
        frame.run(lambda a, b: second_pass(frame.order, frame.starts, frame.pixels, lay, a, b,
                                           frame.intensity, want_scatter, want_histogram, low,
                                           high, frame.histograms, frame.outliers))


def _standard(frame: _Frame, features: dict, selection: FeatureSelection, exclusive: bool):
    result = {}
    local = [name for name in features if catalog.local_base(name) is not None]
    neighbourhood = _neighborhood(frame, local, selection, exclusive) if local else {}
    for name in features:
        base = catalog.local_base(name)
        if base is None:
            result[name] = _standard_value(frame, name, exclusive)
            continue
        for suffix in (catalog.NEIGHBORHOOD, catalog.OBJECT_AND_NEIGHBORHOOD):
            result[base + suffix] = neighbourhood[base + suffix]
    return result


def _standard_value(frame: _Frame, name: str, exclusive: bool) -> np.ndarray:
    dims = frame.dims
    geometry = frame.geometry
    count = frame.intensity[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):   # the background row has count 0
        if name in ("RegionRadii", "RegionAxes"):
            values, vectors = _eigensystems(geometry[:, 3 * dims:], dims)
            if name == "RegionRadii":
                return _rows(np.sqrt(values / count))
            return _rows(vectors.reshape(len(vectors), -1))
        if name == "RegionCenter":
            return _rows(geometry[:, :dims] / count)
    if name == "Coord<Minimum>":
        return _rows(geometry[:, dims:2 * dims])
    if name == "Coord<Maximum>":
        return _rows(geometry[:, 2 * dims:3 * dims] + (1.0 if exclusive else 0.0))
    if name == "Quantiles":
        return _rows(_quantiles(frame))
    if name == "Histogram":
        return _rows(frame.histograms)
    return _rows(_intensity_value(name, frame.intensity, frame.pixels.shape[1]))


def _intensity_value(name: str, rows: np.ndarray, channels: int) -> np.ndarray:
    """A plain statistic (Count, Sum, Mean, ..., Covariance, PrincipalAxes) from intensity rows."""
    columns = layout(channels)
    n = rows[:, :1]

    def part(first):
        return rows[:, first:first + channels]

    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "Count":
            return n
        if name == "Sum":
            return part(columns.sum)
        if name == "Mean":
            return part(columns.sum) / n
        if name == "Variance":
            return part(columns.m2) / n
        if name == "Skewness":
            return np.sqrt(n) * part(columns.m3) / np.power(part(columns.m2), 1.5)
        if name == "Kurtosis":
            m2 = part(columns.m2)
            return n * part(columns.m4) / (m2 * m2) - 3.0
        if name == "Minimum":
            return part(columns.min)
        if name == "Maximum":
            return part(columns.max)
        triangle = channels * (channels + 1) // 2
        if name == "Covariance":
            flat = rows[:, columns.scatter:columns.scatter + triangle]
            return _full_matrix(flat, channels).reshape(len(rows), -1) / n
        if name == "PrincipalAxes":
            flat = rows[:, columns.incremental:columns.incremental + triangle]
            return _eigensystems(flat, channels)[1].reshape(len(rows), -1)
    raise ValueError(name)


def _full_matrix(flat: np.ndarray, size: int) -> np.ndarray:
    """(n, size, size) symmetric matrices from vigra's flat upper triangles (j, i >= j)."""
    out = np.empty((flat.shape[0], size, size))
    k = 0
    for j in range(size):
        for i in range(j, size):
            out[:, i, j] = flat[:, k]
            out[:, j, i] = flat[:, k]
            k += 1
    return out


def _eigensystems(flat: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues (n, size) descending, eigenvectors (n, size, size) as columns) of every
    row's flat scatter matrix, with vigra's solver."""
    values = np.zeros((flat.shape[0], size))
    vectors = np.zeros((flat.shape[0], size, size))
    _all_eigensystems(np.ascontiguousarray(flat), values, vectors)
    return values, vectors


@numba.njit(**JIT)
def _all_eigensystems(flat, values, vectors):
    scratch = np.empty(values.shape[1])
    for row in range(1, flat.shape[0]):
        eigensystem_from_flat(flat[row], vectors[row], values[row], scratch)


def _quantiles(frame: _Frame) -> np.ndarray:
    out = np.zeros((frame.n_objects + 1, len(QUANTILE_LEVELS)))
    if frame.n_objects:
        low, high = frame.global_range
        _all_quantiles(frame.histograms, frame.outliers, frame.intensity, layout(1).min,
                       low, high, QUANTILE_LEVELS, out)
    return out


@numba.njit(**JIT)
def _all_quantiles(histograms, outliers, intensity, min_column, low, high, levels, out):
    offset, scale = histogram_mapping(low, high, histograms.shape[1])
    for row in range(1, histograms.shape[0]):
        stats = intensity[row]
        standard_quantiles(histograms[row], outliers[row], stats[min_column], stats[min_column + 1],
                           stats[0], offset, scale, levels, out[row])


def _neighborhood(frame: _Frame, local: list[str], selection: FeatureSelection,
                  exclusive: bool) -> dict[str, np.ndarray]:
    """Every `X in neighborhood` and `X in object and neighborhood` of the local features."""
    margins = [margin for features in selection.values() for margin in features.values() if margin]
    if not margins or not any(any(m) for m in margins):
        raise ProjectError("The project selects neighbourhood features but no neighbourhood size "
                           "(all margins are 0). Fix: set a neighbourhood size in ilastik's Object "
                           "Feature Selection, retrain and save.")
    width = min(len(m) for m in margins)  # ilastik's max_margin zips the margins together
    margin_xyz = np.max([m[:width] for m in margins], axis=0)
    margin_zyx = np.zeros(3, dtype=np.int64)
    margin_zyx[3 - width:] = margin_xyz[::-1]
    largest = int(margin_xyz.max())
    pitch_zyx = np.zeros(3, dtype=np.int64)
    pitch_zyx[3 - width:] = pitch_from_margin(margin_xyz[::-1].astype(np.int64))
    pitch_zyx[:3 - width] = largest
    bases = {catalog.local_base(name) for name in local}
    channels = frame.pixels.shape[1]
    columns = layout(channels)
    n = frame.n_objects
    context, passed = np.zeros((n + 1, columns.width)), np.zeros((n + 1, columns.width))
    context_hist, passed_hist = np.zeros((n + 1, HISTOGRAM_BINS)), np.zeros((n + 1, HISTOGRAM_BINS))
    context_out, passed_out = np.zeros((n + 1, 2)), np.zeros((n + 1, 2))
    boxes = neighborhood_boxes(frame.geometry, frame.dims, margin_zyx, frame.labels.shape, int(exclusive))
    want_scatter = "Covariance" in bases
    want_central = bool(bases & {"Variance", "Skewness", "Kurtosis"})
    want_histogram = "Histogram" in bases and channels == 1
    frame.run(lambda a, b: neighborhood_statistics(
        frame.labels, frame.pixels, columns, frame.order, frame.starts, boxes, a, b, pitch_zyx,
        largest, want_scatter, want_central, want_histogram, context, passed, context_hist,
        passed_hist, context_out, passed_out))
    result = {}
    for base in sorted(bases):
        for suffix, rows, histograms in ((catalog.NEIGHBORHOOD, context, context_hist),
                                         (catalog.OBJECT_AND_NEIGHBORHOOD, passed, passed_hist)):
            value = histograms if base == "Histogram" else _intensity_value(base, rows, channels)
            result[base + suffix] = _rows(value)
    return result


def _hull(frame: _Frame, features: dict, selection: FeatureSelection, exclusive: bool):
    dims = frame.dims
    count = frame.intensity[:, 0]
    centers = np.ascontiguousarray(frame.geometry[:, :dims] / np.maximum(count, 1)[:, None])
    boxes = neighborhood_boxes(frame.geometry, dims, np.zeros(3, dtype=np.int64), frame.labels.shape, 0)
    rows = np.zeros((frame.n_objects + 1, hull_width(dims)))
    frame.run(lambda a, b: hull_features(frame.labels, boxes, centers, count, a, b, dims, rows))
    result = {}
    for name in features:
        if name in HULL_COLUMNS:
            result[name] = _rows(rows[:, HULL_COLUMNS[name]:HULL_COLUMNS[name] + 1])
        else:
            first = len(HULL_COLUMNS) + dims * VECTOR_FEATURES.index(name)
            result[name] = _rows(rows[:, first:first + dims])
    return result


def _rows(values: np.ndarray) -> np.ndarray:
    """float32 (n + 1, k) with the background row zero, as ilastik caches features."""
    out = np.asarray(values, dtype=np.float64).astype(np.float32)
    out[0] = 0
    return out


def _skeleton(frame: _Frame, features: dict, selection: FeatureSelection, exclusive: bool):
    """vigra's skeleton features of the (2D) frame; ilastik computes them all and keeps the
    selected ones (vigra_objfeats_skeleton.py:121-134)."""
    values = skeleton_features(frame.labels[0])
    return {name: _rows(values[name]) for name in features}


PLUGINS = {
    STANDARD: _standard,
    HULL_2D: _hull,
    HULL_3D: _hull,
    SKELETON: _skeleton,
}
