"""OME-Zarr reading and writing speed, against baselines measured in the same run.

Reading: a 2D float32 image (4096 x 4096, 512 x 512 chunks, Blosc) read whole and in compute
blocks (512 x 512 plus a 32-pixel halo, as pixelserve's pixel features ask for them) by
zarr-python (the baseline), by pixelserve from the folder, and by pixelserve from a loopback
HTTP server (Python's http.server with byte ranges; a real server adds network latency, which
the parallel fetches hide). Writing: the same image exported as 'multi-scale OME-Zarr' (full
resolution plus the pyramid) and 'single-scale OME-Zarr', against 'compressed hdf5' and 'zarr'.

Run: .venv/bin/python scripts/bench_ome_zarr.py [--size 4096]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
import zarr  # noqa: E402

from conftest import FolderServer, write_ome_zarr  # noqa: E402
from pixelserve.export import ExportSettings, InMemoryResult, export_result  # noqa: E402
from pixelserve.io import open_dataset  # noqa: E402


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def blocks(size: int, block: int = 512, halo: int = 32):
    for y in range(0, size, block):
        for x in range(0, size, block):
            yield (slice(max(0, y - halo), min(size, y + block + halo)), slice(max(0, x - halo), min(size, x + block + halo)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    size = parser.parse_args().size
    rng = np.random.default_rng(0)
    image = rng.random((size, size), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_ome_zarr(folder / "image.zarr", [image], "yx", chunks=(512, 512))
        baseline = zarr.open_array(str(folder / "image.zarr" / "s0"), mode="r")
        megabytes = image.nbytes / 2**20
        print(f"reading {size} x {size} float32 ({megabytes:.0f} MB), seconds (ratio to zarr-python):")
        with FolderServer(folder) as server:
            readers = {"zarr-python": baseline.__getitem__,
                       "pixelserve, folder": open_dataset(str(folder / "image.zarr")).read,
                       "pixelserve, HTTP": open_dataset(f"{server.url}/image.zarr").read}
            for read in readers.values():  # warm-up: page cache, imports, zarr's event loop
                read((slice(0, 512), slice(0, 512)))
            for how, regions in (("whole", [(slice(None), slice(None))]), ("in blocks", list(blocks(size)))):
                seconds = {name: timed(lambda read=read: [read(region) for region in regions])
                           for name, read in readers.items()}
                readers["pixelserve, HTTP"] = open_dataset(f"{server.url}/image.zarr").read  # empty cache
                base = seconds["zarr-python"]
                print(f"  {how:10s} " + "  ".join(f"{name} {s:.2f} ({s / base:.2f})" for name, s in seconds.items()))
            print(f"  HTTP requests: {len(server.requests)}")

        print("exporting the same image, seconds (ratio to compressed hdf5):")
        seconds = {}
        for output_format in ("compressed hdf5", "zarr", "single-scale OME-Zarr", "multi-scale OME-Zarr"):
            settings = ExportSettings(output_format=output_format,
                                      output_filename_format=str(folder / output_format.replace(" ", "_")))
            seconds[output_format] = timed(lambda settings=settings: export_result(
                InMemoryResult(image, "yx"), settings.validated(), {}, default_axis_order="yx"))
        base = seconds["compressed hdf5"]
        print("  " + "  ".join(f"{name} {s:.2f} ({s / base:.2f})" for name, s in seconds.items()))


if __name__ == "__main__":
    main()
