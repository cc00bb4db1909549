"""ilastik's edge features for the edge classifier: every feature its edge training offers,
named and ordered as ilastikrag produces them.

Facts from ilastikrag (`rag.py`, `accumulators/`) and ilastik (`opEdgeTraining.py`):

- Three accumulators: `standard_edge_*` (vigra statistics of the face values, a face's value
  being the mean of its two voxels), `standard_sp_*` (vigra statistics of each superpixel's
  voxels, turned into `<name>_sum` and `<name>_difference` = |a - b| of the two superpixels;
  count and sum are first raised to the power 1/ndim) and `edgeregion_edge_*` (principal axes
  of the face coordinates).
- Shorthands (`standard_edge_quantiles`, `..._regionradii`, `..._regionaxes`) expand into
  their parts, appended after the accumulator's other names.
- Per channel, names are grouped by (accumulator, type) in sorted order, keeping the given
  order within a group; edge accumulators come before superpixel ones. Columns are float32,
  NaN skewness and kurtosis become 0.
- ilastik computes the features of every channel of its stacked input (raw data, then
  probabilities, then the watershed's boundary map) that has a selection, and prefixes each
  column with the channel name: "Raw Data standard_edge_mean".
- Edge quantiles use a 64-bin histogram over [min, max + 1] of all face values: since
  ilastikrag 0.1.2 (April 2017, ilastik >= 1.3) the top is always widened by 1.0 (its
  `if histogram_range:` test is always true). Projects saved by ilastik 1.2 were trained with
  [min, max] (the 2018 fixture projects match only that way): `widen_edge_histogram=False`.
  Superpixel quantiles use one histogram over the global [min, max] of the channel.
- `standard_sp_regionaxes_<r><a>` is entry (r, a) of vigra's eigenvector matrix in (x, y, z)
  order (column a is the a-th principal axis); `edgeregion_edge_regionaxes_<r><a>` is
  component a of the r-th axis from numpy's float32 `eigh` (ilastikrag's own code).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from . import _accumulators as acc
from .rag import RegionAdjacencyGraph

STATISTICS = ("count", "sum", "minimum", "maximum", "mean", "variance", "kurtosis", "skewness")
QUANTILE_SUFFIXES = ("0", "10", "25", "50", "75", "90", "100")
BOUNDARY_CHANNEL = "wsdt boundary channel"


@dataclass(frozen=True)
class EdgeFeatureTable:
    """Edge features in the order of the graph's edges: one float32 column per name."""

    names: tuple[str, ...]
    values: np.ndarray  # (n_edges, n_features) float32, C-contiguous


def channel_names(role: str, count: int) -> list[str]:
    """ilastik's names for the channels of one input: the role itself for one channel, else
    "<role>-<i>" (`opDataSelection.py`)."""
    return [role] if count == 1 else [f"{role}-{i}" for i in range(count)]


def voxel_channels(raw: np.ndarray, probabilities: np.ndarray,
                   boundary: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
    """ilastik's stacked feature input as (name, volume) pairs: the channels of the raw data
    and of the probabilities ((..., c) arrays), then the watershed's boundary map (ilastik
    >= 1.4 stacks it as "wsdt boundary channel"; older versions did not)."""
    channels = [(name, raw[..., i])
                for i, name in enumerate(channel_names("Raw Data", raw.shape[-1]))]
    channels += [(name, probabilities[..., i])
                 for i, name in enumerate(channel_names("Probabilities", probabilities.shape[-1]))]
    if boundary is not None:
        channels.append((BOUNDARY_CHANNEL, boundary))
    return channels


def require_columns(table: EdgeFeatureTable, expected: Sequence[str]) -> None:
    """Refuse features that are not the columns, in order, the edge classifier was trained on."""
    if tuple(table.names) == tuple(expected):
        return
    missing = [name for name in expected if name not in table.names]
    detail = (f"missing {missing[:3]}" if missing
              else f"computed {len(table.names)} columns for {len(expected)}, in another order")
    raise UserError(f"The edge features do not match the edge classifier ({detail}). Fix: pass "
                    "inputs with the channels the project was trained on (raw data and "
                    "probabilities with the same channel counts).")


def supported_features(ndim: int) -> list[str]:
    """Every feature name ilastik's edge training offers for 2D or 3D superpixels."""
    axes = "xyz"[:ndim]
    quantiles = [f"quantiles_{q}" for q in QUANTILE_SUFFIXES]
    radii = [f"regionradii_{i}" for i in range(ndim)]
    region_axes = [f"regionaxes_{i}{a}" for i in range(ndim) for a in axes]
    names = [f"standard_edge_{n}" for n in (*STATISTICS, "quantiles", *quantiles)]
    names += [f"standard_sp_{n}" for n in (*STATISTICS, "quantiles", *quantiles, "regionradii",
                                           *radii, "regionaxes", *region_axes)]
    names += ["edgeregion_edge_area"] + (["edgeregion_edge_volume"] if ndim == 3 else [])
    names += [f"edgeregion_edge_{n}" for n in ("regionradii", *radii, "regionaxes", *region_axes)]
    return names


def feature_columns(feature_names: Sequence[str], ndim: int) -> list[str]:
    """The columns (without channel prefix) that ilastikrag makes of one channel's names."""
    return [column for group in _groups(feature_names, ndim) for column in group[2]]


def edge_features(rag: RegionAdjacencyGraph, channels: Sequence[tuple[str, np.ndarray]],
                  selections: Mapping[str, Sequence[str]], *,
                  widen_edge_histogram: bool = True) -> EdgeFeatureTable:
    """The selected features of each named channel (volumes shaped like the superpixels), in
    channel order; channels without a selection are skipped, as in ilastik.

    `widen_edge_histogram`: the edge-quantile histogram ends at max + 1 (ilastik >= 1.3);
    False for projects saved by ilastik 1.2.
    """
    columns: list[np.ndarray] = []
    names: list[str] = []
    shared = _SharedGeometry(rag)
    for channel, volume in channels:
        selected = list(selections.get(channel, []))
        if not selected:
            continue
        volume = np.asarray(volume)
        if volume.shape != rag.shape:
            raise UserError(f"Channel {channel!r} has shape {volume.shape} but the superpixels "
                            f"have shape {rag.shape}. Fix: pass inputs of the same size.")
        # ilastik converts every input to float32 before computing features.
        flat = np.ascontiguousarray(volume, dtype=np.float32).reshape(-1)
        values = _ChannelStatistics(rag, flat, shared, widen_edge_histogram)
        for accumulator, kind, group_columns in _groups(selected, rag.ndim):
            for column in group_columns:
                columns.append(values.column(accumulator, kind, column))
                names.append(f"{channel} {column}")
    matrix = np.empty((rag.n_edges, len(columns)), dtype=np.float32)
    for index, column in enumerate(columns):
        matrix[:, index] = column
    return EdgeFeatureTable(names=tuple(names), values=matrix)


def _groups(feature_names: Sequence[str], ndim: int) -> list[tuple[str, str, list[str]]]:
    """(accumulator, type, output columns) in ilastikrag's order."""
    names = [str(name).lower() for name in feature_names]
    supported = set(supported_features(ndim))
    unknown = [name for name in names if name not in supported]
    if unknown:
        raise UserError(f"Edge feature(s) {unknown} are not among the {ndim}D edge features "
                        "ilastik offers. Fix: select features from ilastik's edge training list.")
    ordered = sorted(names, key=lambda name: name.split("_")[:2])
    by_group: dict[tuple[str, str], list[str]] = {}
    for name in ordered:
        accumulator, kind = name.split("_")[:2]
        by_group.setdefault((kind, accumulator), []).append(name)
    result = []
    for kind in ("edge", "sp"):
        for (group_kind, accumulator), members in by_group.items():
            if group_kind != kind:
                continue
            expanded = _expand(members, f"{accumulator}_{kind}", ndim)
            if kind == "sp":
                expanded = [f"{name}{part}" for name in expanded for part in ("_sum", "_difference")]
            result.append((accumulator, kind, expanded))
    return result


def _expand(names: list[str], prefix: str, ndim: int) -> list[str]:
    """Shorthands replaced by their parts, appended at the end (ilastikrag's accumulators)."""
    names = list(names)
    if f"{prefix}_quantiles" in names:
        names.remove(f"{prefix}_quantiles")
        names += [f"{prefix}_quantiles_{q}" for q in QUANTILE_SUFFIXES]
    if f"{prefix}_regionradii" in names:
        names.remove(f"{prefix}_regionradii")
        names += [f"{prefix}_regionradii_{i}" for i in range(ndim)]
    if f"{prefix}_regionaxes" in names:
        names.remove(f"{prefix}_regionaxes")
        names += [f"{prefix}_regionaxes_{i}{a}" for i in range(ndim) for a in "xyz"[:ndim]]
    return list(dict.fromkeys(names))


class _SharedGeometry:
    """Channel-independent parts, computed once on first use: superpixel principal axes and
    the edgeregion eigen-decomposition."""

    def __init__(self, rag: RegionAdjacencyGraph):
        self.rag = rag
        self._sp_axes = None
        self._edge_axes = None

    def superpixel_axes(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sp_axes is None:
            labels = self.labels3d()
            count, scatter = acc.coordinate_scatter(labels, self.rag.n_nodes)
            self._sp_axes = acc.principal_axes(scatter, count)
        return self._sp_axes

    def labels3d(self) -> np.ndarray:
        labels = self.rag.superpixels
        return labels if labels.ndim == 3 else labels.reshape((1,) + labels.shape)

    def edge_axes(self) -> tuple[np.ndarray, np.ndarray]:
        if self._edge_axes is None:
            rag = self.rag
            covariance = acc.edge_coordinate_covariance(
                np.concatenate(rag.face_voxels), np.concatenate(rag.face_edges),
                np.array(rag.shape, dtype=np.int64), rag.n_edges)
            eigenvalues, eigenvectors = np.linalg.eigh(covariance)
            eigenvalues = eigenvalues[:, ::-1]
            eigenvectors = eigenvectors[:, ::-1].transpose(0, 2, 1)
            eigenvalues[eigenvalues < 0] = 0
            self._edge_axes = (np.sqrt(eigenvalues), eigenvectors)
        return self._edge_axes


class _ChannelStatistics:
    """Statistics of one channel, computed lazily per accumulator."""

    def __init__(self, rag: RegionAdjacencyGraph, flat: np.ndarray, shared: _SharedGeometry,
                 widen_edge_histogram: bool):
        self.rag = rag
        self.widen = 1.0 if widen_edge_histogram else 0.0
        self.flat = flat
        self.shared = shared
        self._edge = None
        self._edge_quantiles = None
        self._sp = None
        self._sp_quantiles = None
        self._sp_columns: dict[str, np.ndarray] = {}

    def column(self, accumulator: str, kind: str, column: str) -> np.ndarray:
        if accumulator == "edgeregion":
            return self._edgeregion(column)
        if kind == "edge":
            return self._standard(column.split("_", 2)[2], self._edge_moments, self._edge_range)
        base, part = column.rsplit("_", 1)
        per_sp = self._sp_columns.get(base)
        if per_sp is None:
            per_sp = self._standard(base.split("_", 2)[2], self._sp_moments, self._sp_range)
            self._sp_columns[base] = per_sp
        a, b = per_sp[self.rag.edges[:, 0]], per_sp[self.rag.edges[:, 1]]
        combined = a + b if part == "sum" else np.abs(a - b)
        if base.endswith(("_count", "_sum")):
            combined = np.power(combined, np.float32(1.0 / self.rag.ndim))
        return combined

    def _standard(self, statistic: str, moments, quantiles) -> np.ndarray:
        m = moments()
        count, total, m2, m3, m4, low, high = m
        with np.errstate(divide="ignore", invalid="ignore"):
            if statistic == "count":
                value = count
            elif statistic == "sum":
                value = total
            elif statistic == "minimum":
                value = low
            elif statistic == "maximum":
                value = high
            elif statistic == "mean":
                value = total / count
            elif statistic == "variance":
                value = m2 / count
            elif statistic == "skewness":
                value = np.nan_to_num(np.sqrt(count) * m3 / m2 ** 1.5, nan=0.0)
            elif statistic == "kurtosis":
                value = np.nan_to_num(count * m4 / (m2 * m2) - 3.0, nan=0.0)
            elif statistic.startswith("quantiles_"):
                value = quantiles()[:, QUANTILE_SUFFIXES.index(statistic.split("_")[1])]
            elif statistic.startswith("regionradii_"):
                value = self.shared.superpixel_axes()[0][:, int(statistic[-1])]
            else:  # regionaxes_<r><a>
                row, column = int(statistic[-2]), "xyz".index(statistic[-1])
                value = self.shared.superpixel_axes()[1][:, row, column]
        return np.asarray(value).astype(np.float32)

    def _face_values(self, axis: int) -> np.ndarray:
        return acc.face_values(self.flat, self.rag.face_voxels[axis], self.rag.axis_stride(axis))

    def _edge_moments(self) -> np.ndarray:
        """Per-axis accumulators merged in axis order (ilastikrag merges its dense tables)."""
        if self._edge is None:
            total = np.zeros((7, self.rag.n_edges))
            total[5], total[6] = np.inf, -np.inf
            for axis in range(self.rag.ndim):
                part = acc.moments(self.rag.face_edges[axis], self._face_values(axis),
                                   self.rag.n_edges)
                acc.merge_moments(total, part)
            self._edge = total
        return self._edge

    def _edge_range(self) -> np.ndarray:
        if self._edge_quantiles is None:
            faces = [self._face_values(axis) for axis in range(self.rag.ndim)]
            present = [f for f in faces if f.size]
            low = float(min(f.min() for f in present)) if present else 0.0
            high = float(max(f.max() for f in present)) + self.widen if present else 1.0
            hist = np.zeros((self.rag.n_edges, acc.BINS), dtype=np.int32)
            for axis, values in enumerate(faces):
                acc.histogram(self.rag.face_edges[axis], values, self.rag.n_edges, low, high, hist)
            m = self._edge_moments()
            self._edge_quantiles = acc.quantiles(hist, m[0], m[5], m[6], low, high)
        return self._edge_quantiles

    def _sp_moments(self) -> np.ndarray:
        if self._sp is None:
            labels = self.shared.labels3d().reshape(-1)
            self._sp = acc.moments(labels, self.flat, self.rag.n_nodes)
        return self._sp

    def _sp_range(self) -> np.ndarray:
        if self._sp_quantiles is None:
            labels = self.shared.labels3d().reshape(-1)
            low, high = float(self.flat.min()), float(self.flat.max())
            hist = np.zeros((self.rag.n_nodes, acc.BINS), dtype=np.int32)
            acc.histogram(labels, self.flat, self.rag.n_nodes, low, high, hist)
            m = self._sp_moments()
            self._sp_quantiles = acc.quantiles(hist, m[0], m[5], m[6], low, high)
        return self._sp_quantiles

    def _edgeregion(self, column: str) -> np.ndarray:
        radii, vectors = self.shared.edge_axes()
        name = column[len("edgeregion_edge_"):]
        if name == "area":
            return np.prod(radii[:, :2], axis=1)
        if name == "volume":
            return np.prod(radii, axis=1)
        if name.startswith("regionradii_"):
            return radii[:, int(name[-1])]
        axes = "zyx"[3 - self.rag.ndim:]
        return vectors[:, int(name[-2]), axes.index(name[-1])]
