"""The prediction server against its baselines, measured side by side in one run:

1. Round trip of a 512x512 image through a warm project on a running server, against a cold
   `pixelserve --headless` run of the same image (process start, project load, prediction,
   file export). Target: at least 20x faster.
2. Streaming throughput of 1 GiB to the server and back (the probe calls, which move bytes
   through the same chunked messages and receive buffers as predictions, without disk or
   compute), against an in-process memory copy of the same size. Target: at least 500 MB/s
   on loopback. For reference also a 1 GiB stack written to and read from an uncompressed
   HDF5 file on the server (WriteDataset, ReadDataset), which adds the file's own cost.

Run: .venv/bin/python scripts/bench_server.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from pixelserve.client import Client
from pixelserve.synthetic import cells_image, scribbles

BIN = Path(sys.executable).parent


def train(folder: Path) -> Path:
    image, truth = cells_image((512, 512), seed=1)
    tifffile.imwrite(folder / "train.tif", image)
    tifffile.imwrite(folder / "labels.tif", scribbles(truth, seed=1))
    project = folder / "cells.ilp"
    subprocess.run([BIN / "pixelserve", "train", "--raw_data", folder / "train.tif", "--labels", folder / "labels.tif",
                    "--output", project, "--trees", "100", "--seed", "0"], check=True, capture_output=True)
    return project


def start_server(folder: Path) -> tuple[subprocess.Popen, int]:
    port_file = folder / "port"
    server = subprocess.Popen([BIN / "pixelserve", "serve", "--port", "0", "--port-file", port_file,
                               "--allowed-root", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not port_file.exists():
        if server.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.05)
    return server, int(port_file.read_text())


def round_trips(folder: Path, project: Path, client: Client, repeats: int) -> tuple[float, float]:
    image, _ = cells_image((512, 512), seed=2)
    tifffile.imwrite(folder / "image.tif", image)
    client.predict(project.name, image, "yx")  # load the project, compile
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.predict(project.name, image, "yx")
        warm.append(time.perf_counter() - start)
    cold = []
    for _ in range(max(2, repeats // 5)):
        start = time.perf_counter()
        subprocess.run([BIN / "pixelserve", "--headless", f"--project={project}", "--output_format=tif",
                        f"--output_filename_format={folder}/cold_{{nickname}}", folder / "image.tif"],
                       check=True, capture_output=True)
        cold.append(time.perf_counter() - start)
    return statistics.median(warm), statistics.median(cold)


def streaming(client: Client, nbytes: int, repeats: int) -> tuple[float, float, float]:
    """Best MB/s up and down (probe calls) and of an in-process copy of `nbytes`."""
    source = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    ups, downs, copies = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copy(source)
        copies.append(nbytes / (time.perf_counter() - start) / 1e6)
        up, down = client.measure_link(nbytes)
        ups.append(up)
        downs.append(down)
    return max(ups), max(downs), max(copies)


def hdf5_round_trip(client: Client, nbytes: int, repeats: int) -> tuple[float, float]:
    """MB/s of WriteDataset and ReadDataset (uncompressed HDF5 on the server)."""
    stack = np.random.default_rng(0).integers(0, 255, (nbytes >> 20, 1024, 1024), dtype=np.uint8)
    ups, downs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        client.write_dataset("stack.h5", stack, "zyx", compressed=False)
        ups.append(time.perf_counter() - start)
        start = time.perf_counter()
        back = client.read_dataset("stack.h5/exported_data")
        downs.append(time.perf_counter() - start)
        assert np.array_equal(back.array[::97], stack[::97])
        del back
    rate = lambda seconds: stack.nbytes / min(seconds) / 1e6  # noqa: E731
    return rate(ups), rate(downs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a 256 MiB stack")
    options = parser.parse_args()
    repeats = 5 if options.quick else 15
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        project = train(folder)
        server, port = start_server(folder)
        try:
            with Client(f"127.0.0.1:{port}") as client:
                warm, cold = round_trips(folder, project, client, repeats)
                print(f"512x512 round trip, warm server: {warm * 1000:.0f} ms (median of {repeats})")
                print(f"512x512 cold pixelserve --headless: {cold * 1000:.0f} ms")
                print(f"  warm server is {cold / warm:.1f}x faster (target >= 20x)")
                size = (256 if options.quick else 1024) << 20
                up, down, copy = streaming(client, size, 3)
                print(f"streaming {size >> 20} MiB: to the server {up:.0f} MB/s, from the server {down:.0f} MB/s "
                      f"(target >= 500); in-process memory copy {copy:.0f} MB/s")
                print(f"  to / copy = {up / copy:.2f}, from / copy = {down / copy:.2f}")
                up, down = hdf5_round_trip(client, size, 2)
                print(f"HDF5 on the server, {size >> 20} MiB: written {up:.0f} MB/s, read {down:.0f} MB/s")
        finally:
            server.terminate()
            server.wait(10)
    print(f"({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
