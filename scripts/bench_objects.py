"""Object feature speed: pixelserve's full ilastik feature set against scikit-image's regionprops.

Generates a 2048 x 2048 image with a few thousand blob-shaped objects (ellipses of random
size and orientation, some touching, over a smooth background), then computes on one thread:
- pixelserve: every "Standard Object Features" feature ilastik offers for one channel,
  every `X in neighborhood` variant (margin 30, 30, also giving `X in object and
  neighborhood`), the "2D Convex Hull Features", the "2D Skeleton Features" and the default
  features;
- scikit-image `regionprops_table` with the comparable properties (area, bounding box,
  centroid, intensity mean/min/max/std, inertia tensor and its eigenvalues, axis lengths,
  orientation, extent): a fraction of what pixelserve computes.
Then the whole Object Classification of that image (a project trained here from the same
image: segmentation input, all those features, 100 trees; segmentation, features,
classification, the prediction image and the object table) against the pixel classification
of the same image (a project trained here on scribbles, with ilastik's default feature grid,
and with five features), each on one thread.

Runs alternate and the best of `--repeats` counts (CPU time of this process), so that load
from other processes hits both alike; wall times are printed too.

    .venv/bin/python scripts/bench_objects.py [--size 2048] [--objects 2600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.measure import regionprops_table  # optional: pip install pixelserve[bench]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from pixelserve import train  # noqa: E402
from pixelserve.objects import catalog  # noqa: E402
from pixelserve.objects.features import compute_object_features  # noqa: E402
from pixelserve.objects.segmentation import label_segmentation  # noqa: E402
from pixelserve.synthetic import scribbles  # noqa: E402

SKIMAGE_PROPERTIES = ("label", "area", "bbox", "area_bbox", "centroid", "intensity_mean",
                      "intensity_min", "intensity_max", "intensity_std", "inertia_tensor",
                      "inertia_tensor_eigvals", "axis_major_length", "axis_minor_length",
                      "orientation", "extent")


def synthetic_objects(size: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(raw (1, size, size) float32, labels (1, size, size) uint32): random ellipses."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), dtype=bool)
    yy, xx = np.mgrid[-24:25, -24:25]
    for _ in range(count):
        a, b = rng.uniform(3, 14), rng.uniform(3, 9)
        angle = rng.uniform(0, np.pi)
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        shape = (u / a) ** 2 + (v / b) ** 2 <= 1
        y, x = rng.integers(24, size - 25, 2)
        mask[y - 24:y + 25, x - 24:x + 25] |= shape
    labels = label_segmentation(mask[None])
    background = ndi.gaussian_filter(rng.standard_normal((size, size)), 30) * 200
    raw = (background + 40 * mask + 5 * rng.standard_normal((size, size))).astype(np.float32)
    return raw[None], labels


def full_selection() -> dict:
    margin = (30, 30)
    standard = {name: margin if catalog.local_base(name) else () for name in catalog.standard_features(1)}
    return {catalog.STANDARD: standard,
            catalog.HULL_2D: {name: () for name in catalog.HULL_FEATURES},
            catalog.SKELETON: {name: () for name in catalog.SKELETON_FEATURES}}


def best_of(functions: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """name -> (best wall, best CPU) seconds, the functions run alternately."""
    best = {name: (np.inf, np.inf) for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            wall, cpu = timed(function)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def compare_workflows(raw: np.ndarray, labels: np.ndarray, repeats: int) -> None:
    """Object Classification of the whole image against Pixel Classification of it."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        segmentation = (labels[0] > 0).astype(np.uint8)
        tifffile.imwrite(folder / "raw.tif", raw[0])
        tifffile.imwrite(folder / "segmentation.tif", segmentation)
        sizes = np.bincount(labels.reshape(-1))[1:]
        chosen = np.random.default_rng(0).choice(sizes.size, size=min(300, sizes.size), replace=False)
        (folder / "objects.csv").write_text("".join(
            f"0,{i + 1},{1 if sizes[i] < np.median(sizes) else 2}\n" for i in chosen))
        objects = train([str(folder / "raw.tif")], output=folder / "objects.ilp", workflow="object",
                        inputs={"Segmentation Image": [str(folder / "segmentation.tif")]},
                        object_labels=[str(folder / "objects.csv")], features=full_selection(), seed=0, threads=1,
                        progress=False)
        tifffile.imwrite(folder / "scribbles.tif", scribbles(segmentation + 1, seed=0))
        pixels = {name: train([str(folder / "raw.tif")], [str(folder / "scribbles.tif")],
                              folder / f"pixels_{index}.ilp", features=choice, seed=0, threads=1, progress=False)
                  for index, (name, choice) in enumerate((
                      ("pixels, default grid", "default"),
                      ("pixels, 5 features", "gaussian:1,3.5 gradient:1 hessian:1,3.5")))}
    image = raw[0]
    functions = {"objects": lambda: objects.run(image, "yx", inputs={"Segmentation Image": (segmentation, "yx")},
                                                threads=1)}
    for name, project in pixels.items():
        functions[name] = lambda project=project: project.predict(image, "yx", threads=1)
    for function in functions.values():   # compile and warm up
        function()
    best = best_of(functions, repeats)
    features = sum(len(names) for names in objects.workflow.model.features.values())
    print(f"\nwhole workflows on the same image, one thread (objects: {features} selected features, "
          "prediction image and object table)")
    for name, (wall, cpu) in best.items():
        print(f"{name:22s} {cpu:7.3f} s CPU ({wall:7.3f} s wall)")
    for name in pixels:
        print(f"Object Classification takes {best['objects'][1] / best[name][1]:.2f}x the CPU time of the "
              f"{name}")


def timed(function) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--objects", type=int, default=2600, help="ellipses drawn (some merge)")
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    numba.set_num_threads(1)
    raw, labels = synthetic_objects(options.size, options.objects, seed=1)
    n_objects = int(labels.max())
    selection = full_selection()

    def ours():
        return compute_object_features(raw, labels, selection, threads=1)

    def theirs():
        return regionprops_table(labels[0], intensity_image=raw[0], properties=SKIMAGE_PROPERTIES)

    features, table = ours(), theirs()   # compile and warm up
    our_columns = sum(v.shape[1] for plugin in features.values() for v in plugin.values())
    their_columns = sum(1 for name in table if name != "label")
    print(f"image {options.size}x{options.size}, {n_objects} objects, "
          f"{int((labels > 0).sum())} object pixels, one thread")
    best = best_of({"pixelserve": ours, "scikit-image": theirs}, options.repeats)
    for name, columns in (("pixelserve", our_columns), ("scikit-image", their_columns)):
        wall, cpu = best[name]
        print(f"{name:13s} {cpu:7.3f} s CPU ({wall:7.3f} s wall)  {columns:4d} values per object")
    ratio = best["scikit-image"][1] / best["pixelserve"][1]
    print(f"pixelserve is {ratio:.1f}x faster than scikit-image's regionprops_table "
          f"(CPU time, best of {options.repeats}), computing {our_columns / their_columns:.1f}x "
          "as many values")
    compare_workflows(raw, labels, options.repeats)


if __name__ == "__main__":
    main()
