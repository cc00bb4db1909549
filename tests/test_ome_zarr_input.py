"""OME-Zarr input: NGFF 0.4 (zarr v2) and 0.5 (zarr v3, sharded) images written by the zarr
package, read from a folder, a file:// URI and a loopback HTTP server; ilastik's scale rule;
missing chunks against failed fetches; predictions equal to the same data read from HDF5."""

from __future__ import annotations

import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import FolderServer, shell_env, write_ome_zarr
from pixelserve.errors import UserError
from pixelserve.io import chunk_stores, open_dataset
from pixelserve.synthetic import cells_image

zarr = pytest.importorskip("zarr")


def pyramid(image: np.ndarray, axes: str) -> list[np.ndarray]:
    """Two scales: the image and every second pixel along y and x."""
    return [image, image[tuple(slice(None, None, 2) if a in "yx" else slice(None) for a in axes)]]


def ramp(shape, dtype=np.uint16) -> np.ndarray:
    return (np.arange(int(np.prod(shape))).reshape(shape) % 251).astype(dtype)


@pytest.fixture
def server(tmp_path):
    with FolderServer(tmp_path) as running:
        yield running


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(chunk_stores, "BACKOFF_SECONDS", 0.01)


# (name, axes, shape, NGFF version, chunks, shards)
CASES = [
    ("2d", "yx", (37, 45), "0.4", (16, 16), None),
    ("3d", "zyx", (9, 30, 26), "0.5", (3, 8, 8), (3, 16, 16)),
    ("time", "tyx", (4, 20, 22), "0.4", (1, 8, 8), None),
    ("channels", "cyx", (3, 21, 19), "0.5", (1, 8, 8), None),
    ("5d", "tczyx", (2, 2, 5, 12, 14), "0.5", (1, 1, 2, 8, 8), (1, 1, 4, 8, 8)),
]


@pytest.mark.parametrize("name, axes, shape, version, chunks, shards", CASES, ids=[c[0] for c in CASES])
def test_local_file_uri_and_http_read_the_same(tmp_path, server, name, axes, shape, version, chunks, shards):
    image = ramp(shape)
    levels = pyramid(image, axes)
    write_ome_zarr(tmp_path / f"{name}.ome.zarr", levels, axes, version=version, chunks=chunks, shards=shards,
                   pixel_size={"x": 0.25, "y": 0.25, "z": 1.5})
    region = tuple(slice(n // 4, n - n // 5) for n in shape)
    for spec in (str(tmp_path / f"{name}.ome.zarr"), (tmp_path / f"{name}.ome.zarr").as_uri(),
                 f"{server.url}/{name}.ome.zarr"):
        lowest = open_dataset(spec)  # like ilastik's headless mode: the lowest resolution
        assert (lowest.shape, lowest.axes, lowest.axes_from_file) == (levels[1].shape, axes, True)
        assert np.array_equal(lowest.read(), levels[1])
        full = open_dataset(spec + "/s0")  # the scale named after the image
        assert np.array_equal(full.read(region), image[region])
        assert np.array_equal(open_dataset(spec, scale="0").read(region), image[region])  # by index
        assert full.resolution["x"] == (0.25, "micrometer") and lowest.resolution["x"] == (0.5, "micrometer")
        if "z" in axes:
            assert full.resolution["z"] == (1.5, "micrometer")
        assert "c" not in full.resolution and ("t" not in axes or full.resolution["t"] == (1.0, ""))


def test_names_paths_and_nicknames(tmp_path, server):
    folder = tmp_path / "with space"
    write_ome_zarr(folder / "cells.ome.zarr", pyramid(ramp((20, 24)), "yx"), "yx", chunks=(8, 8))
    local = open_dataset(str(folder / "cells.ome.zarr"))
    assert (local.nickname, local.internal_path, local.paths) == ("cells.ome", "s1",
                                                                 [str(folder / "cells.ome.zarr")])
    uri = (folder / "cells.ome.zarr").as_uri() + "/s0"
    assert "%20" in uri
    from_uri = open_dataset(uri)
    # ilastik's URL nickname is the URL's last component; its {dataset_dir} for file:// is the
    # image folder's parent, which paths[0] gives
    assert (from_uri.nickname, from_uri.paths, from_uri.shape) == ("s0", [str(folder / "cells.ome.zarr")], (20, 24))
    remote = open_dataset(f"{server.url}/with%20space/cells.ome.zarr")
    assert (remote.nickname, remote.paths) == ("cells.ome", [f"{server.url}/with%20space/cells.ome.zarr"])


def test_scale_errors_and_a_named_scale_of_another_multiscale(tmp_path):
    path = write_ome_zarr(tmp_path / "img.zarr", pyramid(ramp((20, 24)), "yx"), "yx", chunks=(8, 8))
    with pytest.raises(UserError, match=r"has no scale 's7'; its scales are s0, s1 .*index 0 to 1"):
        open_dataset(str(path), scale="s7")
    assert open_dataset(str(path), scale="-1").shape == (10, 12)
    with pytest.raises(UserError, match="only OME-Zarr images have scales"):
        np.save(tmp_path / "plain.npy", ramp((4, 4)))
        open_dataset(str(tmp_path / "plain.npy"), scale="0")
    # as in ilastik's own test store: a first multiscales entry that is not the image; its scale
    # path selects the other entry
    attrs = zarr.open_group(str(path), mode="r+").attrs
    entry = dict(attrs["multiscales"][0])
    attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
                             "datasets": [{"path": "wrong/s0"}]}, entry]
    assert open_dataset(str(path / "s0")).shape == (20, 24)
    (path / ".zgroup").unlink()  # ilastik's test store has .zattrs only
    assert open_dataset(str(path / "s1")).shape == (10, 12)


def test_missing_chunk_is_fill_value_local_and_remote(tmp_path, server):
    image = ramp((20, 24)) + 1
    path = write_ome_zarr(tmp_path / "holes.zarr", [image], "yx", chunks=(8, 8))
    (path / "s0" / "1" / "2").unlink()  # chunk (1, 2): rows 8-15, columns 16-23
    expected = image.copy()
    expected[8:16, 16:24] = 0
    assert np.array_equal(open_dataset(str(path)).read(), expected)
    assert np.array_equal(open_dataset(f"{server.url}/holes.zarr").read(), expected)


def test_remote_reads_fetch_only_the_needed_chunks_in_parallel(tmp_path):
    image = ramp((64, 64))
    write_ome_zarr(tmp_path / "img.zarr", [image], "yx", chunks=(16, 16))
    with FolderServer(tmp_path, delay=0.05) as server:
        dataset = open_dataset(f"{server.url}/img.zarr")
        assert server.chunk_requests() == []  # opening reads metadata only
        assert np.array_equal(dataset.read((slice(10, 40), slice(20, 30))), image[10:40, 20:30])
        assert sorted(server.chunk_requests()) == sorted(f"/img.zarr/s0/{i}/1" for i in range(3))
        assert server.most_in_flight > 1
        dataset.read((slice(10, 40), slice(20, 30)))  # cached
        assert len(server.chunk_requests()) == 3


def test_sharded_remote_reads_use_byte_ranges(tmp_path):
    image = ramp((8, 32, 32))
    write_ome_zarr(tmp_path / "img.zarr", [image], "zyx", version="0.5", chunks=(2, 8, 8), shards=(4, 16, 16))
    for ranges in (True, False):  # object stores answer ranges; Python's http.server sends whole files
        with FolderServer(tmp_path, ranges=ranges) as server:
            dataset = open_dataset(f"{server.url}/img.zarr")
            region = (slice(1, 3), slice(5, 12), slice(17, 30))
            assert np.array_equal(dataset.read(region), image[region])


def test_http_errors_are_clear(tmp_path, fast_retries):
    write_ome_zarr(tmp_path / "img.zarr", [ramp((20, 24))], "yx", chunks=(8, 8))
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w", zarr_format=2).create_array(
        "a", shape=(4, 4), dtype="uint8")
    zarr.open_group(str(tmp_path / "plate.zarr"), mode="w", zarr_format=2).attrs["plate"] = {
        "wells": [{"path": "A/1"}, {"path": "B/2"}]}
    with FolderServer(tmp_path) as server:
        with pytest.raises(UserError, match=r"not an OME-Zarr image: neither zarr.json .* check the address"):
            open_dataset(f"{server.url}/nothing.zarr")
        with pytest.raises(UserError, match=r"is a zarr but not an OME-Zarr image"):
            open_dataset(f"{server.url}/plain.zarr")
        with pytest.raises(UserError, match=r"is an OME-Zarr plate, not an image; .*plate.zarr/A/1, .*plate.zarr/B/2"):
            open_dataset(f"{server.url}/plate.zarr")
        dataset = open_dataset(f"{server.url}/img.zarr")
        server.fail_chunks_after, server.fail_status = 1, 503
        with pytest.raises(UserError, match=r"answered HTTP 503 .*\(after 4 tries\) for http://127\.0\.0\.1:\d+/img\.zarr"
                                            r"/s0/\d/\d: the server failed or is overloaded: try again later"):
            dataset.read()
        server.fail_status = 403
        with pytest.raises(UserError, match=r"HTTP 403 .*may need credentials"):
            open_dataset(f"{server.url}/img.zarr").read()
        url = server.url
    with pytest.raises(UserError, match=rf"Could not fetch {url}/img\.zarr/zarr\.json from the server "
                                        r"127\.0\.0\.1:\d+ \(.*; 4 tries\): check the address and the network connection"):
        open_dataset(f"{url}/img.zarr")
    with pytest.raises(UserError, match="file://, http:// and https:// addresses only, not s3://"):
        open_dataset("s3://bucket/img.zarr")


def test_damaged_chunk_is_a_user_error(tmp_path):
    path = write_ome_zarr(tmp_path / "img.zarr", [ramp((20, 24))], "yx", chunks=(8, 8))
    (path / "s0" / "0" / "0").write_bytes(b"not blosc")
    with pytest.raises(UserError, match=r"chunk .*s0/0/0 cannot be decoded .*copy or export it again"):
        open_dataset(str(path)).read()


# ---------------------------------------------------------------------------------------------
# Predictions: the same data from OME-Zarr (over HTTP) and from HDF5 give the same result.

def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["pixelserve", "--headless", *args], cwd=cwd,
                          env=shell_env(), capture_output=True, text=True, timeout=300)


def _h5(path: Path, image: np.ndarray) -> Path:
    with h5py.File(path, "w") as file:
        file["raw"] = image
    return path


@pytest.mark.parametrize("fixture, shape, axes", [("project_2d", (150, 170), "yx"), ("project_3d", (20, 40, 44), "zyx")])
def test_prediction_from_http_equals_hdf5(request, tmp_path, fixture, shape, axes):
    project = request.getfixturevalue(fixture)
    image, _ = cells_image(shape, seed=31)
    write_ome_zarr(tmp_path / "cells.zarr", pyramid(image, axes), axes, version="0.5" if axes == "zyx" else "0.4",
                   chunks=(8, 32, 32)[-len(axes):], shards=(16, 64, 64) if axes == "zyx" else None)
    _h5(tmp_path / "cells.h5", image)
    with FolderServer(tmp_path) as server:
        for name, spec in (("zarr", f"{server.url}/cells.zarr/s0"), ("h5", str(tmp_path / "cells.h5"))):
            result = run_cli(f"--project={project}", "--output_format=hdf5",
                             f"--output_filename_format={tmp_path}/out_{name}.h5", spec, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "out_zarr.h5", "r") as a, h5py.File(tmp_path / "out_h5.h5", "r") as b:
        assert a["exported_data"].shape == shape + (2,)
        np.testing.assert_array_equal(a["exported_data"][...], b["exported_data"][...])


@pytest.mark.parametrize("fail_status, output_format", [(500, "multi-scale OME-Zarr"), (None, "hdf5")],
                         ids=["http-500", "connection-dropped"])
def test_connection_lost_mid_run_fails_clearly_and_writes_nothing(project_2d, tmp_path, fail_status, output_format):
    image, _ = cells_image((150, 170), seed=32)
    write_ome_zarr(tmp_path / "cells.zarr", [image], "yx", chunks=(16, 16))
    with FolderServer(tmp_path) as server:
        server.fail_chunks_after, server.fail_status = 20, fail_status  # of 110 chunks
        result = run_cli(f"--project={project_2d}", f"--output_format={output_format}",
                         f"--output_filename_format={tmp_path}/out/result", f"{server.url}/cells.zarr", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    if fail_status == 500:
        assert "answered HTTP 500" in message and "after 4 tries" in message and "try again later" in message
    else:
        assert "Could not fetch" in message and "Remote end closed connection" in message and "4 tries" in message
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
