"""The region adjacency graph of a superpixel volume, with ilastikrag's edges and faces.

Facts from ilastikrag (`rag.py`, `util.py`): two superpixels are adjacent when two voxels
that are neighbours along an axis carry them. Every such voxel pair is a "face"; ilastikrag
keeps the faces of each axis in C order of the first (lower-index) voxel, and the edge list is
the set of distinct (smaller id, larger id) pairs sorted lexicographically. Label 0 is an
ordinary node. Node ids are the superpixel values themselves (ilastik passes max id + 1 nodes
to the solver; ids that do not occur are isolated nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import UserError


@dataclass(frozen=True)
class RegionAdjacencyGraph:
    """Edges and faces of a superpixel volume (2D (y, x) or 3D (z, y, x))."""

    edges: np.ndarray                   # (E, 2) uint32, u < v, lexicographically sorted
    n_nodes: int                        # largest superpixel id + 1
    shape: tuple[int, ...]
    face_voxels: tuple[np.ndarray, ...]  # per axis: flat C index of each face's lower voxel
    face_edges: tuple[np.ndarray, ...]   # per axis: the edge (row of `edges`) of each face
    superpixels: np.ndarray              # the uint32 label volume (superpixel features read it)

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def axis_stride(self, axis: int) -> int:
        """Flat distance between a face's two voxels."""
        return int(np.prod(self.shape[axis + 1:], dtype=np.int64))


@njit(cache=True, nogil=True)
def _faces(labels, axis, n_nodes, voxels, keys):
    """Count the faces along `axis`; store them too when the output arrays are large enough
    (flat index of the lower voxel, key low * n_nodes + high), in C order."""
    n0, n1, n2 = labels.shape
    d0, d1, d2 = int(axis == 0), int(axis == 1), int(axis == 2)
    fill = voxels.size > 0
    at = 0
    for i in range(n0 - d0):
        for j in range(n1 - d1):
            for k in range(n2 - d2):
                a = labels[i, j, k]
                b = labels[i + d0, j + d1, k + d2]
                if a != b:
                    if fill:
                        voxels[at] = (i * n1 + j) * n2 + k
                        low, high = (a, b) if a < b else (b, a)
                        keys[at] = np.uint64(low) * np.uint64(n_nodes) + np.uint64(high)
                    at += 1
    return at


def region_adjacency_graph(superpixels: np.ndarray) -> RegionAdjacencyGraph:
    """The graph of a 2D or 3D superpixel (label) volume; labels are cast to uint32."""
    labels = np.asarray(superpixels)
    if labels.ndim not in (2, 3):
        raise UserError(f"Superpixels must be a 2D (y, x) or 3D (z, y, x) label image, got shape "
                        f"{labels.shape}. Fix: pass one time point and one channel.")
    if labels.dtype.kind not in "ui" or (labels.size and labels.min() < 0) \
            or (labels.size and int(labels.max()) >= 2 ** 32 - 1):
        raise UserError(f"Superpixels must hold non-negative integer labels below 2^32, got "
                        f"{labels.dtype}. Fix: pass a label image (uint32, as ilastik's).")
    labels = np.ascontiguousarray(labels, dtype=np.uint32)
    volume = labels if labels.ndim == 3 else labels.reshape((1,) + labels.shape)
    n_nodes = int(labels.max()) + 1 if labels.size else 1
    first_axis = 3 - labels.ndim
    voxel_dtype = np.uint32 if labels.size < 2 ** 32 else np.int64
    voxels, keys = [], []
    for axis in range(first_axis, 3):
        count = _faces(volume, axis, n_nodes, np.empty(0, np.int64), np.empty(0, np.uint64))
        axis_voxels = np.empty(count, dtype=np.int64)
        axis_keys = np.empty(count, dtype=np.uint64)
        _faces(volume, axis, n_nodes, axis_voxels, axis_keys)
        voxels.append(axis_voxels.astype(voxel_dtype))
        keys.append(axis_keys)
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    edge_dtype = np.int32 if unique.size < 2 ** 31 else np.int64
    inverse = inverse.astype(edge_dtype)
    bounds = np.cumsum([0] + [k.size for k in keys])
    edges = np.empty((unique.size, 2), dtype=np.uint32)
    edges[:, 0] = unique // np.uint64(n_nodes)
    edges[:, 1] = unique % np.uint64(n_nodes)
    return RegionAdjacencyGraph(
        edges=edges, n_nodes=n_nodes, shape=labels.shape,
        face_voxels=tuple(voxels),
        face_edges=tuple(inverse[bounds[a]:bounds[a + 1]] for a in range(len(keys))),
        superpixels=labels,
    )
