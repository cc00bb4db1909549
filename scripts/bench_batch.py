"""Batch throughput of `pixelserve --headless`: 64 small images (256x256) one after another
(--parallel_files=1) and several at a time (the automatic choice), side by side in one run,
against the ideal speed-up (one file per thread, up to the number of files).

One after another is what ilastik does: each file with all threads, a 256x256 image split
into one block per thread (pixel_classification._rows_per_block), each recomputing a halo,
while opening and writing the file take one thread; that keeps the other cores only partly
busy. Several at a time gives each file one thread and every core files of its own. Each run
is the real command line (a fresh process: interpreter, libraries, project), as a user runs
it; the fixed start-up both pay is measured on a one-file run and shown apart. Other
programs' load on the cores (printed) skews both: run it two or three times.

Run: .venv/bin/python scripts/bench_batch.py [--files 64] [--size 256] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tifffile  # noqa: E402

from conftest import train_project  # noqa: E402
from pixelserve.blocks import default_threads  # noqa: E402
from pixelserve.features import DEFAULT_SCALES  # noqa: E402
from pixelserve.synthetic import cells_image, scribbles  # noqa: E402

PIXELSERVE = str(Path(sys.executable).parent / "pixelserve")


def run_batch(project: Path, images: list[Path], output: Path, *flags: str) -> tuple[float, str]:
    """(wall-clock seconds, the 'processing N files, K at a time' line) of one CLI run."""
    start = time.perf_counter()
    done = subprocess.run([PIXELSERVE, "--headless", f"--project={project}",
                           f"--output_filename_format={output}/{{nickname}}", *flags,
                           *map(str, images)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"pixelserve failed ({done.returncode}): {done.stderr}")
    plan = re.search(r"processing (.*)", done.stderr)
    return seconds, plan.group(1) if plan else "one file"


def same_results(first: Path, second: Path) -> bool:
    names = sorted(p.name for p in first.glob("*.h5"))
    if names != sorted(p.name for p in second.glob("*.h5")):
        return False
    for name in names:
        with h5py.File(first / name, "r") as a, h5py.File(second / name, "r") as b:
            if not np.array_equal(a["exported_data"][...], b["exported_data"][...]):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--size", type=int, default=256, help="side of the square images")
    parser.add_argument("--quick", action="store_true", help="16 files")
    options = parser.parse_args()
    files = 16 if options.quick else options.files
    threads = default_threads()
    ideal = min(threads, files)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        image, truth = cells_image((256, 256), seed=3)
        project = train_project(folder / "bench.ilp", image, scribbles(truth, seed=3), "yx",
                                scales=DEFAULT_SCALES, trees=100)
        (folder / "images").mkdir()
        images = []
        for index in range(files):
            images.append(folder / "images" / f"cells_{index:03d}.tif")
            tifffile.imwrite(images[-1], cells_image((options.size,) * 2, seed=100 + index)[0])
        print(f"threads: {threads}; {files} files of {options.size}x{options.size}; forest: 100 "
              f"trees; features: all ids at scales {DEFAULT_SCALES}")
        if hasattr(os, "getloadavg"):  # other programs' load makes the cores less than free
            print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        run_batch(project, images[:2], folder / "warm-up", "--parallel_files=1")  # disk cache
        startup, _ = run_batch(project, images[:1], folder / "one")
        serial, serial_plan = run_batch(project, images, folder / "serial", "--parallel_files=1")
        parallel, parallel_plan = run_batch(project, images, folder / "parallel")
        identical = same_results(folder / "serial", folder / "parallel")
    rows = [("one after another", serial, serial_plan), ("automatic", parallel, parallel_plan)]
    for name, seconds, plan in rows:
        print(f"{name:>17}: {seconds:6.2f} s, {files / seconds * 60:7.1f} files/min ({plan})")
    print(f"speed-up {serial / parallel:.2f}x, ideal {ideal:.2f}x ({ideal} of {threads} threads "
          f"busy); results identical: {identical}")
    rest = serial - startup, max(parallel - startup, 1e-3)
    print(f"start-up and one file: {startup:.2f} s; the rest: {rest[0]:.2f} s vs {rest[1]:.2f} s, "
          f"speed-up {rest[0] / rest[1]:.2f}x")


if __name__ == "__main__":
    main()
