"""Colours for label images whose values are object ids (segmentations, superpixels): as many
mutually distinct colours as a viewer's 8-bit colour table holds, the idea of Glasbey et al.
("Colour displays for categorical images", 2007) computed here.

Each colour is the one among a grid of RGB colours that lies farthest (in CIELAB, where
distances follow perceived differences) from black and from every colour chosen before it,
so that neighbouring ids in a segmentation stand apart and none disappears into the black
background. Deterministic: the same table on every machine.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: How many colours a label colour table holds: value v (1..255) is drawn in colour v - 1.
TABLE_SIZE = 255
_LEVELS = 24  # RGB grid steps per channel: 13,824 candidates


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[int, int, int], ...]:
    steps = np.linspace(0, 255, _LEVELS)
    grid = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = _cielab(grid)
    nearest = np.sum((lab - _cielab(np.zeros((1, 3)))) ** 2, axis=1)  # distance to black
    chosen = []
    for _ in range(TABLE_SIZE):
        pick = int(np.argmax(nearest))
        chosen.append(tuple(int(round(v)) for v in grid[pick]))
        np.minimum(nearest, np.sum((lab - lab[pick]) ** 2, axis=1), out=nearest)
    return tuple(chosen)


def glasbey_colors(count: int = TABLE_SIZE) -> tuple[tuple[int, int, int], ...]:
    """`count` (at most 255) distinct RGB colours, the most distinct first."""
    if not 0 <= count <= TABLE_SIZE:
        raise ValueError(f"A label colour table holds 0 to {TABLE_SIZE} colours, not {count}")
    return _table()[:count]


def _cielab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65 white) of sRGB colours given as 0..255 values, one per row."""
    linear = rgb / 255.0
    linear = np.where(linear <= 0.04045, linear / 12.92, ((linear + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805],
                             [0.2126, 0.7152, 0.0722],
                             [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)
