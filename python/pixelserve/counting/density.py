"""The training target of Cell Density Counting: the user's dots smoothed into a density.

ilastik (`applets/counting/opCounting.py:287-290`, `countingOperators.py:46-76`) sets the
background labels (2) to 0, takes the dots (1) as 1.0 and smooths that image with a sampled
Gaussian of the project's sigma over the whole image (mirror border), then reads it block by
block. The Gaussian's window: ilastik 1.3 projects were trained through vigra's
`gaussianSmoothing` with its default window ratio 3.0 (radius floor(3 sigma + 0.5)); current
lazyflow passes 2.0 to fastfilters. On CellDensityCounting2d3c.ilp the ratio 3.0 reproduces
ilastik's stored count (29.87) within one standard deviation of the retraining spread, the
ratio 2.0 overshoots by 13 % (shared/notes/counting.md), so 3.0 it is.

Only dots within the kernel radius reach a box, so a box's density is computed from the dots
of the box widened by that radius (clipped at the image border, where the mirror applies as on
the whole image): the result equals the whole image's density on the box.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..features.kernels import kernel_radius
from ..features.passes import correlate, kernel32
from ..project.counting import DOT
from ..project.label_sets import SparseLabels
from ..workflows.volume import Box

DENSITY_WINDOW = 3.0


def density_radius(sigma: float) -> int:
    """Pixels a dot's density reaches along each axis."""
    return kernel_radius(sigma, DENSITY_WINDOW)


def dot_density(labels: SparseLabels, t: int, box: Box, spatial_shape, sigma: float) -> np.ndarray:
    """(y, x) float32 density of the dots (label 1) of time point t on a 2D box (z extent 1)."""
    if box.shape[0] != 1:
        raise UserError(f"Dot densities are 2D; the box {box} spans {box.shape[0]} z slices. Fix: "
                        "count 2D images (one z slice).")
    reach = density_radius(sigma)
    if reach >= min(spatial_shape[1:]):
        raise UserError(f"The image ({spatial_shape[1]} x {spatial_shape[2]} pixels) is too small "
                        f"for the counting sigma {sigma:g}, whose smoothing reaches {reach} "
                        "pixels. Fix: use a bigger image or a smaller Sigma in ilastik's counting "
                        "applet.")
    grown = box.grown((0, reach, reach), spatial_shape)
    (y0, y1), (x0, x1) = grown.y, grown.x
    coords, values = labels.coords, labels.values
    inside = ((values == DOT) & (coords[:, 0] == t) & (coords[:, 1] == box.z[0])
              & (coords[:, 2] >= y0) & (coords[:, 2] < y1)
              & (coords[:, 3] >= x0) & (coords[:, 3] < x1))
    dots = np.zeros((1, y1 - y0, x1 - x0), dtype=np.float32)
    dots[0, coords[inside, 2] - y0, coords[inside, 3] - x0] = 1.0
    kernel = kernel32(float(sigma), 0, DENSITY_WINDOW)
    interior = box.relative_to(grown)
    rows = correlate(dots, 1, kernel, interior[1].start, interior[1].stop)
    smoothed = correlate(np.ascontiguousarray(rows), 2, kernel, interior[2].start,
                         interior[2].stop)
    return smoothed[0]
