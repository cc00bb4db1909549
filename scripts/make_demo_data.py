"""Writes the demo's images (or, with --score, checks the demo's segmentation against the truth)."""

import argparse
from pathlib import Path

import numpy as np
import tifffile

from pixelserve.synthetic import cells_image, scribbles

parser = argparse.ArgumentParser()
parser.add_argument("folder", type=Path)
parser.add_argument("--score", action="store_true")
options = parser.parse_args()

image, truth = cells_image((512, 512), seed=1)
new_image, new_truth = cells_image((512, 512), seed=2)
if options.score:
    result = tifffile.imread(options.folder / "new_cells_Simple_Segmentation.tif").squeeze()
    print(f"Segmentation of new_cells.tif agrees with the truth on {np.mean(result == new_truth):.1%} of pixels.")
else:
    options.folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(options.folder / "cells.tif", image)
    tifffile.imwrite(options.folder / "cells_scribbles.tif", scribbles(truth, seed=1))
    tifffile.imwrite(options.folder / "new_cells.tif", new_image)
    np.save(options.folder / "new_cells_truth.npy", new_truth)
