"""End-to-end prediction speed: a 100-tree forest on all features (every feature id at every
default scale), 2D 2048x2048 and 3D 128x256x256, through the Python API on all cores.

Prints Mpx/s for each, and how the time splits between features and the forest (measured on
one block on one thread). Run: .venv/bin/python scripts/bench_end_to_end.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pixelserve  # noqa: E402
from conftest import train_project  # noqa: E402
from pixelserve.blocks import default_threads  # noqa: E402
from pixelserve.features import DEFAULT_SCALES  # noqa: E402
from pixelserve.synthetic import cells_image, scribbles  # noqa: E402


def measure(project_path: Path, shape, axes: str, repeats: int) -> tuple[float, float]:
    project = pixelserve.open_project(project_path)
    image, _ = cells_image(shape, seed=7)
    project.predict(image[tuple(slice(0, 64) for _ in shape)], axes=axes)   # JIT warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        project.predict(image, axes=axes)
        times.append(time.perf_counter() - start)
    best = min(times)
    return image.size / best / 1e6, best


def split(project_path: Path, shape, axes: str) -> tuple[float, float]:
    """Seconds per Mpx for features and for the forest, on one block, one thread."""
    from pixelserve.workflows import Volume
    from pixelserve.workflows.volume import Box

    project = pixelserve.open_project(project_path)
    image, _ = cells_image(shape, seed=8)
    source = project.workflow.open_lane({"Raw Data": Volume.from_array(image, axes)}).image
    chain, stage = source.chain, source.chain.stages[0]
    box = Box.whole(chain.spatial_shape)
    start = time.perf_counter()
    features = chain.features(1, 0, box)
    middle = time.perf_counter()
    stage.ensemble.predict_proba(features.reshape(-1, features.shape[-1]))
    end = time.perf_counter()
    mpx = image.size / 1e6
    return (middle - start) / mpx, (end - middle) / mpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller images, one repeat")
    options = parser.parse_args()
    shape_2d = (512, 512) if options.quick else (2048, 2048)
    shape_3d = (32, 128, 128) if options.quick else (128, 256, 256)
    repeats = 1 if options.quick else 2
    print(f"threads: {default_threads()}; forest: 100 trees; features: all ids at scales {DEFAULT_SCALES}")
    with tempfile.TemporaryDirectory() as folder:
        for name, shape, axes, train_shape in (("2D", shape_2d, "yx", (256, 256)),
                                               ("3D", shape_3d, "zyx", (48, 96, 96))):
            image, truth = cells_image(train_shape, seed=3)
            project = train_project(Path(folder) / f"{name}.ilp", image, scribbles(truth, seed=3),
                                    axes, scales=DEFAULT_SCALES, trees=100)
            n_features = pixelserve.open_project(project).workflow.stages[0].n_features
            rate, seconds = measure(project, shape, axes, repeats)
            features, forest = split(project, tuple(min(n, 512 if len(shape) == 2 else 96) for n in shape), axes)
            print(f"{name} {'x'.join(map(str, shape))} ({n_features} features): {rate:.2f} Mpx/s "
                  f"({seconds:.1f} s); one thread per Mpx: features {features:.2f} s, forest {forest:.2f} s")


if __name__ == "__main__":
    main()
