"""Distributed runs (`mpiexec -n N pixelserve --headless --distributed`) against one process
and against ilastik's documented alternative, N separate runs at once, each with its own
--cutout_subregion (a slab of the volume, its own output file), side by side in one run on a
volume of 1 GiB (uint8, generated on disk slab by slab, so memory stays bounded).

Every run is the real command line in a fresh process (interpreter, libraries, project), with
one thread per process so that the ranks are the only parallelism: the ratios are against one
process with one thread, the target for 2 ranks is >= 1.8x. CPU seconds (all processes of a
run, from the kernel) are printed beside the wall-clock seconds: on a shared machine the wall
clock also measures the others' load, the CPU seconds do not. The distributed output and the
separate runs' slabs are checked against the single process's output, value for value.

Then 8 ranks on the 2 cores (oversubscribed) on tiny blocks (16^3, a thousand of them),
where handing blocks out costs rank 0 the most: rank 0's own report of the CPU it spent on
that, as a share of the run (target < 5 %). Last, the rate at which this file system takes
N5 chunks (written and synced), the third input of the projection in docs/distributed.md.

The project is deliberately cheap (one Gaussian feature, 4 small trees): a real one costs
10-100x more per block, which only makes the hand-out's share smaller.

Run: .venv/bin/python scripts/bench_distributed.py [--gib 1.0] [--ranks 2] [--folder DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from conftest import train_project  # noqa: E402
from pixelserve.export import ExportMetadata  # noqa: E402
from pixelserve.export.n5_writer import N5Writer  # noqa: E402
from pixelserve.io import open_dataset  # noqa: E402
from pixelserve.synthetic import cells_image, scribbles  # noqa: E402

BIN = Path(sys.executable).parent
PIXELSERVE = str(BIN / "pixelserve")
MPIEXEC = shutil.which("mpiexec", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
SLAB = 64  # z planes generated, and compared, at a time


def make_volume(path: Path, gib: float) -> tuple[int, int, int]:
    """A uint8 volume of `gib` GiB: a synthetic-cells tile mirrored across it, slab by slab."""
    side = 1024
    depth = max(SLAB, int(round(gib * 2**30 / side / side / SLAB)) * SLAB)
    tile = cells_image((32, 128, 128), seed=3)[0]
    mirrored = np.concatenate([tile, tile[::-1]], axis=0)
    mirrored = np.concatenate([mirrored, mirrored[:, ::-1]], axis=1)
    mirrored = np.concatenate([mirrored, mirrored[:, :, ::-1]], axis=2)  # 64 x 256 x 256, seamless when tiled
    plane_tiles = (1, side // mirrored.shape[1], side // mirrored.shape[2])
    slab = np.tile(mirrored, plane_tiles)
    with h5py.File(path, "w") as file:
        data = file.create_dataset("raw", shape=(depth, side, side), dtype=np.uint8, chunks=(64, 64, 64))
        for z in range(0, depth, SLAB):
            data[z:z + SLAB] = slab
    return depth, side, side


def timed(command: list, env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of every process it started, stderr) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, command[:4]))} ... failed ({done.returncode}): {done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stderr


def timed_together(commands: list[list]) -> tuple[float, float]:
    """(wall, CPU seconds) of several commands started at once, until the last one ends."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    processes = [subprocess.Popen([str(c) for c in command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for command in commands]
    failures = [p.communicate()[1] for p in processes if p.wait() != 0]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if failures:
        sys.exit(f"a separate run failed: {failures[0]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def same_values(first: str, second: str, z_range: tuple[int, int] | None = None) -> bool:
    """Whether two outputs (zyxc) hold the same values, `second` compared with the z planes
    `z_range` of `first`; read slab by slab."""
    a, b = open_dataset(first), open_dataset(second)
    offset = z_range[0] if z_range else 0
    if z_range is None and a.shape != b.shape:
        return False
    for z in range(0, b.shape[0], SLAB):
        stop = min(z + SLAB, b.shape[0])
        if not np.array_equal(a.read((slice(offset + z, offset + stop),)), b.read((slice(z, stop),))):
            return False
    return True


def file_system_rate(folder: Path, chunks: int = 16, side: int = 256) -> float:
    """MB/s at which N5 chunks of side^3 uint8 are written and synced to disk."""
    shape = (chunks * side, side, side)
    writer = N5Writer(str(folder / "rate.n5"), str(folder / "rate-final.n5"), shape, "zyx", np.uint8,
                      ExportMetadata(internal_path="data"), chunks=(side, side, side))
    block = np.random.default_rng(0).integers(0, 255, (side, side, side), dtype=np.uint8)
    start = time.perf_counter()
    for index in range(chunks):
        writer.write((index * side, 0, 0), block)
    os.sync()
    seconds = time.perf_counter() - start
    shutil.rmtree(folder / "rate.n5")
    return chunks * block.nbytes / seconds / 1e6


def hand_out_line(stderr: str) -> re.Match:
    found = re.search(r"blocks (\d+)/\d+ done: \d+ computed in ([\d.]+) s on (\d+) ranks?; handing them out took "
                      r"rank 0 ([\d.]+) s of CPU \(([\d.]+) % of the run\)", stderr)
    if found is None:
        sys.exit(f"no summary line from rank 0 in: {stderr}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=1.0, help="volume size in GiB (default 1)")
    parser.add_argument("--ranks", type=int, default=2, help="ranks, and separate runs (default 2)")
    parser.add_argument("--folder", help="work here instead of a temporary folder (it needs 5 x the volume)")
    options = parser.parse_args()
    if MPIEXEC is None:
        sys.exit("no mpiexec: install the test extra (pip install -e '.[test]') or an MPI")
    ranks = options.ranks
    with tempfile.TemporaryDirectory(dir=options.folder) as temp:
        folder = Path(temp)
        image, truth = cells_image((48, 64, 64), seed=6)
        project = train_project(folder / "cheap.ilp", image, scribbles(truth, seed=6), "zyx", scales=(1.0,), trees=4)
        started = time.perf_counter()
        shape = make_volume(folder / "volume.h5", options.gib)
        volume = f"{folder}/volume.h5/raw"
        print(f"volume {shape[0]} x {shape[1]} x {shape[2]} uint8 ({np.prod(shape) / 2**30:.2f} GiB), written in "
              f"{time.perf_counter() - started:.0f} s; {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} at the start", flush=True)
        common = [f"--project={project}", "--export_source=Simple Segmentation", "--output_format=n5", "--threads=1"]
        headless = [PIXELSERVE, "--headless", *common]

        rows = []
        single = [*headless, f"--output_filename_format={folder}/single", volume]
        first = timed(single)[:2]
        print(f"  1 process x 1 thread: {first[0]:.1f} s ({first[1]:.1f} s CPU)", flush=True)

        wall, cpu, _ = timed([*headless[:-1], "--threads=2", f"--output_filename_format={folder}/threads", volume])
        rows.append(("1 process, 2 threads", wall, cpu))

        wall, cpu, stderr = timed([MPIEXEC, "-n", ranks, *headless, "--distributed",
                                   f"--output_filename_format={folder}/spread", volume])
        rows.append((f"{ranks} ranks x 1 thread (--distributed)", wall, cpu))
        summary = hand_out_line(stderr)
        blocks = int(summary.group(1))

        depth = shape[0]
        cuts = [depth * k // ranks for k in range(ranks + 1)]
        separate = [[*headless, f"--output_filename_format={folder}/part{k}",
                     f"--cutout_subregion=[({cuts[k]},0,0,0),({cuts[k + 1]},None,None,None)]", volume]
                    for k in range(ranks)]
        wall, cpu = timed_together(separate)
        rows.append((f"{ranks} separate runs x 1 thread (--cutout_subregion)", wall, cpu))
        # the baseline again, last: the other programs' load drifts, and the mean of the runs
        # before and after the others is fairer to them than either one
        last = timed(single)[:2]
        baseline = (first[0] + last[0]) / 2
        rows.insert(0, ("1 process, 1 thread (mean of first and last)", baseline, (first[1] + last[1]) / 2))
        print(f"  1 process x 1 thread, again: {last[0]:.1f} s ({last[1]:.1f} s CPU)", flush=True)

        print(f"\n{'run':<48} {'wall s':>8} {'CPU s':>8} {'speed-up':>9}")
        for name, wall, cpu in rows:
            print(f"{name:<48} {wall:8.1f} {cpu:8.1f} {baseline / wall:8.2f}x")
        spread_wall, spread_cpu = rows[2][1], rows[2][2]
        print(f"\n{ranks} ranks against 1 process x 1 thread: {baseline / spread_wall:.2f}x (target >= 1.8x); against "
              f"{ranks} separate runs: {rows[3][1] / spread_wall:.2f}x; from the CPU seconds alone (each rank's "
              f"share, were the cores its own): {rows[0][2] / (spread_cpu / ranks):.2f}x")
        print(f"{blocks} blocks (at most 256^3): {rows[2][2] / blocks:.2f} s CPU each (all ranks' CPU / blocks), "
              f"{np.prod(shape) / rows[0][2] / 1e6:.1f} Mvoxel per CPU second in one process")
        same = same_values(f"{folder}/single.n5/exported_data", f"{folder}/spread.n5/exported_data")
        parts = all(same_values(f"{folder}/single.n5/exported_data", f"{folder}/part{k}.n5/exported_data",
                                (cuts[k], cuts[k + 1])) for k in range(ranks))
        print(f"distributed output equals the single process's: {same}; the separate runs' slabs do: {parts}")
        for name in ("single.n5", "threads.n5", "spread.n5", *(f"part{k}.n5" for k in range(ranks))):
            shutil.rmtree(folder / name)

        # 8 ranks on tiny blocks: the most that handing out can cost
        tiny = [MPIEXEC, "-n", 8, *headless, "--distributed", "--distributed_block_roi=16",
                "--cutout_subregion=[(0,0,0,0),(64,256,256,None)]", f"--output_filename_format={folder}/tiny", volume]
        wall, cpu, stderr = timed(tiny)
        summary = hand_out_line(stderr)
        tiny_blocks, hand_out = int(summary.group(1)), float(summary.group(4))
        print(f"\n8 ranks on {os.cpu_count()} cores, {tiny_blocks} blocks of 16^3: {wall:.1f} s ({cpu:.1f} s CPU); rank 0 "
              f"spent {hand_out:.3f} s of CPU handing them out: {summary.group(5)} % of the run (target < 5 %), "
              f"{100 * hand_out / cpu:.2f} % of all ranks' CPU, {1e3 * hand_out / tiny_blocks:.2f} ms per block")
        print(f"file system: {file_system_rate(folder):.0f} MB/s for N5 chunks of 16 MiB, written and synced")


if __name__ == "__main__":
    main()
