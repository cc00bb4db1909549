"""Memory stays bounded: predicts a large HDF5 volume (default 2 GiB of uint8) through
`pixelserve --headless` and prints the peak memory of the run next to the volume's size.

The project is a small 3D one trained here (three features, 10 trees) so that the run is
quick; memory depends on block size and halo, not on the volume. The input and output go to
a temporary folder (about 2 x the volume size on disk).

Run: .venv/bin/python scripts/bench_memory.py [--gib 2.0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import run_measuring_memory, train_project  # noqa: E402
from pixelserve.synthetic import cells_image, scribbles  # noqa: E402


def write_volume(path: Path, gib: float) -> tuple[int, int, int]:
    tile, _ = cells_image((64, 512, 512), seed=4)
    plane = 2048 * 2048
    depth = max(64, int(gib * (1 << 30) / plane) // 64 * 64)
    with h5py.File(path, "w") as file:
        data = file.create_dataset("raw", shape=(depth, 2048, 2048), dtype=np.uint8,
                                   chunks=(64, 256, 256))
        slab = np.tile(tile, (1, 4, 4))
        for z in range(0, depth, 64):
            data[z:z + 64] = slab
    return depth, 2048, 2048


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=2.0, help="volume size in GiB (uint8)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        image, truth = cells_image((48, 96, 96), seed=3)
        project = train_project(folder / "small3d.ilp", image, scribbles(truth, seed=3), "zyx",
                                scales=(0.3, 1.0), trees=10)
        shape = write_volume(folder / "volume.h5", options.gib)
        size = int(np.prod(shape))
        command = [str(Path(sys.executable).parent / "pixelserve"), "--headless",
                   f"--project={project}", "--export_source=Simple Segmentation",
                   "--output_format=hdf5", f"--output_filename_format={folder}/result.h5",
                   f"{folder}/volume.h5/raw"]
        start = time.perf_counter()
        code, peak = run_measuring_memory(command)
        seconds = time.perf_counter() - start
        assert code == 0, f"pixelserve exited with {code}"
        with h5py.File(folder / "result.h5", "r") as file:
            assert file["exported_data"].shape[:3] == shape
    print(f"volume {shape} uint8 = {size / (1 << 30):.2f} GiB; peak memory of the run "
          f"{peak / (1 << 30):.2f} GiB ({peak / size:.2f} x the volume); {seconds:.0f} s, "
          f"{size / seconds / 1e6:.1f} Mvox/s")


if __name__ == "__main__":
    main()
