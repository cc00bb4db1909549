"""Blockwise Object Classification of a volume of over 1 GiB in bounded memory.

Writes a synthetic volume (default 1024^3 uint8 = 1 GiB, and its binary segmentation, another
1 GiB) to HDF5 slab by slab: separate round and elongated objects of one brightness on a noisy
background. Trains an Object Classification project (segmentation input, the default object
features) on a small volume of the same kind, sets its blockwise block and halo, then runs

    pixelserve --headless --export_source="Blockwise Object Predictions" ...

on the whole volume in a child process and prints the child's peak resident memory next to
the input's size and the estimate the export plans with, its CPU and wall time, and the share
of objects classified correctly (objects inside one block; cut objects get a class per part).

    .venv/bin/python scripts/bench_objects_blockwise.py [--size 1024] [--block 192] [--halo 32]
        [--threads 2] [--folder /tmp/somewhere]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from pixelserve import open_project, train  # noqa: E402
from pixelserve.io import open_dataset  # noqa: E402
from pixelserve.workflows import LaneRequest  # noqa: E402

SLAB = 64          # z slices generated at a time (objects never cross a slab)
HALF = 12          # half-size of an object's box


def slab_objects(shape, count: int, rng) -> np.ndarray:
    """uint8 truth of one slab: 0 background, 1 round (a ball), 2 elongated (a rod-like
    ellipsoid at any angle in y-x), all separate and inside the slab."""
    truth = np.zeros(shape, dtype=np.uint8)
    grid = np.mgrid[-HALF:HALF + 1, -HALF:HALF + 1, -HALF:HALF + 1].astype(np.float32)
    for _ in range(count):
        kind = 1 + int(rng.integers(0, 2))
        angle = rng.uniform(0, np.pi)
        u = grid[2] * np.cos(angle) + grid[1] * np.sin(angle)
        v = -grid[2] * np.sin(angle) + grid[1] * np.cos(angle)
        a, b = (rng.uniform(4, 7),) * 2 if kind == 1 else (rng.uniform(9, 12), rng.uniform(2.5, 3.5))
        inside = (u / a) ** 2 + (v / b) ** 2 + (grid[0] / b) ** 2 <= 1
        centre = [int(rng.integers(HALF + 1, n - HALF - 1)) for n in shape]
        box = tuple(slice(c - HALF, c + HALF + 1) for c in centre)
        if truth[box][inside].any():
            continue
        if ndimage.binary_dilation(inside, iterations=2)[truth[box] > 0].any():
            continue
        truth[box][inside] = kind
    return truth


def raw_of(truth: np.ndarray, rng) -> np.ndarray:
    noise = rng.integers(0, 40, truth.shape, dtype=np.uint8)
    return (60 + 100 * (truth > 0).astype(np.uint8) + noise).astype(np.uint8)


def write_volume(path: Path, size: int, seed: int) -> None:
    """raw, segmentation (uint8, (z, y, x)) and truth of a size^3 volume, slab by slab."""
    rng = np.random.default_rng(seed)
    shape = (size, size, size)
    chunks = (64, 64, 64)
    per_slab = int(SLAB * size * size / 20000)
    with h5py.File(path, "w") as file:
        raw = file.create_dataset("raw", shape, np.uint8, chunks=chunks)
        segmentation = file.create_dataset("segmentation", shape, np.uint8, chunks=chunks)
        truth = file.create_dataset("truth", shape, np.uint8, chunks=chunks)
        for z in range(0, size, SLAB):
            depth = min(SLAB, size - z)
            objects = slab_objects((depth, size, size), per_slab, rng)
            raw[z:z + depth] = raw_of(objects, rng)
            segmentation[z:z + depth] = objects > 0
            truth[z:z + depth] = objects


def train_project(folder: Path, block: int, halo: int) -> Path:
    """A project trained on one 64 x 256 x 256 slab, one labelled voxel in 60 objects."""
    rng = np.random.default_rng(7)
    truth = slab_objects((SLAB, 256, 256), 160, rng)
    objects, count = ndimage.label(truth > 0)
    labels = np.zeros_like(truth)
    for index in rng.choice(np.arange(1, count + 1), size=min(60, count), replace=False):
        z, y, x = np.argwhere(objects == index)[0]
        labels[z, y, x] = truth[z, y, x]
    with h5py.File(folder / "training.h5", "w") as file:
        file["raw"] = raw_of(truth, rng)
        file["segmentation"] = (truth > 0).astype(np.uint8)
        file["labels"] = labels
    path = folder / "objects.ilp"
    train([str(folder / "training.h5/raw")], [str(folder / "training.h5/labels")], path, workflow="object",
          inputs={"Segmentation Image": [str(folder / "training.h5/segmentation")]},
          label_names="round,elongated", seed=0, progress=False)
    with h5py.File(path, "a") as file:
        for name, value in (("BlockShape3dDict", block), ("HaloPadding3dDict", halo)):
            for axis in "xyz":
                file[f"Blockwise Object Classification/{name}/{axis}"][()] = value
    return path


def estimate(project: Path, volume: Path, threads: int) -> int:
    """What the batch planner budgets: one block per thread, plus two finished ones each."""
    workflow = open_project(project).workflow
    inputs = {role: workflow.input_volume(open_dataset(f"{volume}/{name}"), "zyx", role)
              for role, name in (("Raw Data", "raw"), ("Segmentation Image", "segmentation"))}
    source = workflow.open_lane(inputs, LaneRequest("Blockwise Object Predictions")).image
    finished = int(np.prod(source.block_shape)) * source.dtype.itemsize
    return threads * (source.block_working_bytes() + 2 * finished)


def accuracy(result: Path, volume: Path) -> float:
    """Share of objects whose voxels are all predicted as their class, counted slab by slab."""
    right = total = 0
    with h5py.File(result) as predicted, h5py.File(volume) as truth:
        for z in range(0, truth["truth"].shape[0], SLAB):
            ours = predicted["exported_data"][z:z + SLAB, ..., 0]
            theirs = truth["truth"][z:z + SLAB]
            objects, count = ndimage.label(theirs > 0)
            if not count:
                continue
            index = np.arange(1, count + 1)
            low = ndimage.minimum(ours, objects, index)
            high = ndimage.maximum(ours, objects, index)
            klass = ndimage.maximum(theirs, objects, index)
            right += int(np.sum((low == high) & (high == klass)))
            total += count
    return right / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="edge of the cubic volume (1024: 1 GiB)")
    parser.add_argument("--block", type=int, default=192)
    parser.add_argument("--halo", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--folder", type=Path, default=None, help="where to write (default: a temporary folder)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=options.folder) as folder:
        folder = Path(folder)
        started = time.perf_counter()
        volume = folder / "volume.h5"
        write_volume(volume, options.size, seed=1)
        project = train_project(folder, options.block, options.halo)
        print(f"volume {options.size}^3 uint8: {options.size ** 3 / 2**30:.2f} GiB raw + "
              f"{options.size ** 3 / 2**30:.2f} GiB segmentation (written and trained in "
              f"{time.perf_counter() - started:.0f} s); blocks {options.block}^3, halo {options.halo}, "
              f"{options.threads} thread(s)")
        command = [Path(sys.executable).parent / "pixelserve", "--headless", f"--project={project}",
                   f"--raw_data={volume}/raw", f"--segmentation_image={volume}/segmentation", "--input_axes=zyx",
                   "--export_source=Blockwise Object Predictions", "--output_format=compressed hdf5",
                   f"--output_filename_format={folder}/result", f"--threads={options.threads}"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        peak = after.ru_maxrss * 1024   # kilobytes on Linux
        print(f"blockwise prediction: {cpu:.0f} s CPU ({wall:.0f} s wall); peak resident memory "
              f"{peak / 2**30:.2f} GiB = {peak / options.size ** 3:.2f}x the raw volume "
              f"(the export planned with {estimate(project, volume, options.threads) / 2**30:.2f} GiB for its blocks)")
        print(f"objects classified correctly: {accuracy(folder / 'result.h5', volume):.3f}")


if __name__ == "__main__":
    main()
