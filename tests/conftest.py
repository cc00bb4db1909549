"""Shared test helpers: where ilastik's fixtures are, and ilastik's pass criterion."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: How a documented command that fails on purpose says so, e.g. "# exits with code 2: ...".
EXPECTED_FAILURE = re.compile(r"#\s*exits with code (\d+)")


def doc_blocks(name: str, language: str = "bash") -> list[str]:
    """The code blocks of docs/<name> in `language`, in order."""
    return re.findall(rf"```{language}\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


def check_documented_run(result: subprocess.CompletedProcess, block: str) -> None:
    """A documented command did what its block says: exit code 0, or the code its comment
    names ("# exits with code N") with a single 'pixelserve: error: ... Fix ...' line."""
    expected = EXPECTED_FAILURE.search(block)
    if not expected:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == int(expected.group(1)), result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("pixelserve: error: ") and "Fix" in lines[0], lines[0]


def shell_env() -> dict:
    """The environment in which documented commands find this venv's pixelserve first."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def run_shell(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """A documented shell command, run as a reader would run it."""
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=shell_env(), capture_output=True, text=True,
                          timeout=timeout)


@contextlib.contextmanager
def serving(folder: Path, env: dict | None = None):
    """A pixelserve server (this venv's) that may read `folder`: yields its address, stops it
    afterwards."""
    port_file = folder / "port"
    process = subprocess.Popen([Path(sys.executable).parent / "pixelserve", "serve", "--port", "0", "--port-file",
                                port_file, "--allowed-root", folder], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"127.0.0.1:{int(port_file.read_text())}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def fixtures_dir() -> Path:
    return Path(os.environ.get("PIXELSERVE_FIXTURES", ROOT.parent / "shared" / "fixtures" / "ilastik"))


def require_fixtures() -> Path:
    folder = fixtures_dir()
    if not (folder / "api_projects.zip").exists():
        pytest.skip(f"ilastik fixtures not found at {folder} (set PIXELSERVE_FIXTURES to the "
                    "folder holding api_projects.zip and test_projects.zip)")
    return folder


def _unpacked(tmp_path_factory, archive_name: str) -> Path:
    folder = require_fixtures()
    target = tmp_path_factory.mktemp(archive_name.removesuffix(".zip"))
    with zipfile.ZipFile(folder / archive_name) as archive:
        archive.extractall(target)
    return target


@pytest.fixture(scope="session")
def api_projects(tmp_path_factory) -> Path:
    return _unpacked(tmp_path_factory, "api_projects.zip")


@pytest.fixture(scope="session")
def test_projects(tmp_path_factory) -> Path:
    return _unpacked(tmp_path_factory, "test_projects.zip")


@pytest.fixture(scope="session")
def multicut_reference(tmp_path_factory) -> Path:
    """ilastik's multicut GUI-test references (superpixels, segmentations)."""
    return _unpacked(tmp_path_factory, "testEdgeTrainingWithMulticutReference.zip")


def assert_matches_ilastik(result: np.ndarray, reference: np.ndarray) -> None:
    """ilastik's own cross-platform criterion: < 0.1 % of pixels off by >= 0.015, none by >= 0.15."""
    assert result.shape == reference.shape, (result.shape, reference.shape)
    difference = np.abs(result.astype(np.float64) - reference.astype(np.float64))
    off = np.mean(difference >= 0.015)
    assert off < 0.001, f"{off:.3%} of values differ by >= 0.015 (max {difference.max():.4f})"
    assert difference.max() < 0.15, f"max difference {difference.max():.4f}"


def labelled_samples(raw, labels, specs) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and label values of every labelled pixel of one image (one stage)."""
    from pixelserve.training.label_images import read_sparse_labels
    from pixelserve.training.samples import LaneData, labelled_rows

    rows, values = labelled_rows([LaneData(raw, read_sparse_labels(labels, raw))], specs,
                                 structure_tensor_order="fastfilters", threads=1)
    return rows, values.astype(np.int64)


def train_project(path: Path, image: np.ndarray, labels: np.ndarray, axes: str, *,
                  scales=(0.3, 1.0, 3.5), trees: int = 10, seed: int = 0, in_2d: bool = False,
                  label_names=("background", "cell")) -> Path:
    """A small one-image project of our own, trained through the trainer's parts."""
    from pixelserve.features import all_features
    from pixelserve.project.pixel_classification import default_label_colors
    from pixelserve.project.writer import LaneRecord, StageRecord, write_project
    from pixelserve.training.trainer import fit_forest
    from pixelserve.workflows.volume import Volume

    specs = all_features(scales, in_2d=in_2d)
    raw = Volume.from_array(image, axes)
    label_axes = axes.replace("c", "")
    features, values = labelled_samples(raw, Volume.from_array(labels, label_axes), specs)
    forest = fit_forest(features, values, n_trees=trees, seed=seed, threads=1)[1]
    lane = LaneRecord(file_path=str(path.with_suffix(".tif")), nickname=path.stem,
                      axes=axes if "c" in axes else axes + "c",
                      shape=image.shape if "c" in axes else image.shape + (1,))
    stage = StageRecord(specs=specs, forest=forest, label_names=list(label_names),
                        label_colors=default_label_colors(len(label_names)), input_channels=lane.channels)
    return write_project(path, lanes=[lane], stages=[stage])


def apply_export(array, axes: str, settings, *, default_axis_order: str):
    """The export's conversion chain on a whole array in memory: (new array, its axes)."""
    from pixelserve.export import InMemoryResult, export_to_array

    result, output_axes, _ = export_to_array(InMemoryResult(array, axes), settings, default_axis_order=default_axis_order)
    return result, output_axes


def all_features_batch(folder: Path, count: int, *, tiles: int, seed: int) -> tuple[Path, list[Path]]:
    """A project with every feature (slow per pixel, so that runs take a while) and `count`
    images of tiles x tiles cell images of 256 x 256, cells_<k>.tif."""
    import tifffile

    from pixelserve.features import DEFAULT_SCALES
    from pixelserve.synthetic import cells_image, scribbles

    image, truth = cells_image((160, 160), seed=5)
    project = train_project(folder / "all_features.ilp", image, scribbles(truth, seed=5), "yx",
                            scales=DEFAULT_SCALES, trees=20)
    images = []
    for index in range(count):
        tile, _ = cells_image((256, 256), seed=seed + index)
        images.append(folder / f"cells_{index}.tif")
        tifffile.imwrite(images[-1], np.tile(tile, (tiles, tiles)))
    return project, images


@pytest.fixture(scope="session")
def project_2d(tmp_path_factory) -> Path:
    from pixelserve.synthetic import cells_image, scribbles

    folder = tmp_path_factory.mktemp("project_2d")
    image, truth = cells_image((160, 160), seed=5)
    return train_project(folder / "cells2d.ilp", image, scribbles(truth, seed=5), "yx")


@pytest.fixture(scope="session")
def project_3d(tmp_path_factory) -> Path:
    from pixelserve.synthetic import cells_image, scribbles

    folder = tmp_path_factory.mktemp("project_3d")
    image, truth = cells_image((48, 64, 64), seed=6)
    return train_project(folder / "cells3d.ilp", image, scribbles(truth, seed=6), "zyx")


def run_measuring_memory(command: list[str]) -> tuple[int, int]:
    """(exit code, peak resident memory in bytes) of a command, from the kernel's high-water
    mark of the process itself (getrusage would also count the parent's pages from fork)."""
    import subprocess
    import time

    process = subprocess.Popen(command)
    peak = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.05)
    return process.returncode, peak


class FolderServer:
    """Serves a folder over HTTP on 127.0.0.1 (an ephemeral port) from a thread, for the tests
    of remote reading. `url` is its address. It answers byte ranges as real object stores do
    (unless `ranges` is False, like Python's own http.server), records every request path,
    counts the requests in flight at once, and can be told to fail: `fail_chunks_after = n`
    answers HTTP `fail_status` to every chunk request after the first n (metadata, i.e. JSON
    files, still works), or with `fail_status = None` drops the connection without an answer;
    `stop()` shuts it down (connections are then refused)."""

    def __init__(self, folder, *, ranges: bool = True, delay: float = 0.0):
        import http.server
        import threading
        import time

        server_state = self
        self.requests: list[str] = []
        self.in_flight = self.most_in_flight = 0
        self.fail_chunks_after: int | None = None
        self.fail_status = 500
        self._lock = threading.Lock()

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                with server_state._lock:
                    server_state.requests.append(self.path)
                    server_state.in_flight += 1
                    server_state.most_in_flight = max(server_state.most_in_flight, server_state.in_flight)
                    chunks = [p for p in server_state.requests if not p.endswith((".json", ".zattrs", ".zarray",
                                                                                 ".zgroup"))]
                try:
                    time.sleep(delay)
                    limit = server_state.fail_chunks_after
                    if limit is not None and chunks and chunks[-1] == self.path and len(chunks) > limit:
                        if server_state.fail_status is None:
                            self.close_connection = True
                        else:
                            self.send_error(server_state.fail_status)
                        return
                    self._send_file()
                finally:
                    with server_state._lock:
                        server_state.in_flight -= 1

            def _send_file(self):
                path = Path(self.translate_path(self.path))
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                wanted = self.headers.get("Range") if ranges else None
                status = 200
                if wanted:
                    start, _, stop = wanted.removeprefix("bytes=").partition("-")
                    if not start:
                        data, status = data[-int(stop):], 206
                    else:
                        data, status = data[int(start):int(stop) + 1 if stop else None], 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 64  # the default 5 drops bursts of parallel connections (1 s SYN retry)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def chunk_requests(self) -> list[str]:
        return [p for p in self.requests if not p.endswith((".json", ".zattrs", ".zarray", ".zgroup"))]

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


_OME_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def write_ome_zarr(folder: Path, levels: list[np.ndarray], axes: str, *, version: str = "0.4",
                   chunks: tuple[int, ...], shards: tuple[int, ...] | None = None,
                   pixel_size: dict | None = None, unit: str = "micrometer") -> Path:
    """An OME-Zarr image written with the zarr package: scale i is levels[i] (2^i times
    smaller along y and x), at path 's<i>'."""
    import zarr

    zarr_format = 3 if version == "0.5" else 2
    group = zarr.open_group(str(folder), mode="w", zarr_format=zarr_format)
    pixel_size = pixel_size or {}
    datasets = []
    for index, level in enumerate(levels):
        options = ({"dimension_names": list(axes), "shards": shards} if zarr_format == 3
                   else {"chunk_key_encoding": {"name": "v2", "separator": "/"}})
        group.create_array(f"s{index}", shape=level.shape, chunks=chunks, dtype=level.dtype,
                           **options)[...] = level
        scale = [pixel_size.get(a, 1.0) * (2**index if a in "yx" else 1) for a in axes]
        datasets.append({"path": f"s{index}", "coordinateTransformations": [{"type": "scale", "scale": scale}]})
    entry = {"version": version, "datasets": datasets,
             "axes": [{"name": a, "type": _OME_AXIS_TYPES[a], **({"unit": unit} if a in "zyx" else {})} for a in axes]}
    if zarr_format == 3:
        group.attrs["ome"] = {"version": version, "multiscales": [entry]}
    else:
        group.attrs["multiscales"] = [entry]
    return folder
