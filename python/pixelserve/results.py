"""What a computation hands back to Python callers (the API and the server's client): the
exported image with what it shows, and the lane's tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .export.tables import Table


@dataclass
class Result:
    """An exported image (None when only tables, or only a description, were asked for), its
    axes, shape and meaning, and the tables by name (e.g. one row per object). `lane_wide`:
    the image is computed for the whole lane at once (a server answers it in one call)."""

    array: np.ndarray | None
    axes: str = ""
    shape: tuple[int, ...] = ()
    export_source: str = ""
    channel_names: list[str] = field(default_factory=list)
    channel_colors: list[tuple[int, int, int]] = field(default_factory=list)
    label_colors: list[tuple[int, int, int]] = field(default_factory=list)
    drange: tuple[float, float] | None = None
    resolution: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    lane_wide: bool = False
