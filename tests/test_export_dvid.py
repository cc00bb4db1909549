"""`--output_format dvid` against a real DVID server (github.com/janelia-flyem/dvid, built by
scripts/install_dvid.sh), started on an ephemeral loopback port; every export is read back with
DVID's own HTTP API (GET .../raw/0_1_2/<size>/<offset>, x fastest)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pixelserve.errors import UserError
from pixelserve.export import ExportSettings, InMemoryResult, export_result
from pixelserve.export.dvid_writer import DvidWriter, parse_dvid_url

NAMES = {"dataset_dir": "/data/set", "nickname": "img", "result_type": "Probabilities"}


def _dvid_binary() -> str | None:
    candidates = [os.environ.get("PIXELSERVE_DVID"), str(Path(sys.executable).parent / "dvid"), shutil.which("dvid")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method, url, body=None):
    request = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


@pytest.fixture(scope="module")
def dvid(tmp_path_factory):
    """Base URL of a DVID server on 127.0.0.1, stopped after the module's tests."""
    binary = _dvid_binary()
    if binary is None:
        pytest.skip("DVID server not installed: run scripts/install_dvid.sh (builds github.com/janelia-flyem/dvid "
                    "from the Go module proxy into .venv/bin/dvid) or set PIXELSERVE_DVID")
    folder = tmp_path_factory.mktemp("dvid")
    port, rpc = _free_port(), _free_port()
    (folder / "dvid.toml").write_text(
        f'[server]\nhttpAddress = "127.0.0.1:{port}"\nrpcAddress = "127.0.0.1:{rpc}"\n\n'
        f'[logging]\nlogfile = "{folder / "dvid.log"}"\n\n'
        f'[store]\n    [store.main]\n    engine = "badger"\n    path = "{folder / "db"}"\n')
    log = open(folder / "stdout.log", "wb")
    process = subprocess.Popen([binary, "serve", str(folder / "dvid.toml")], cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _http("GET", base + "/api/server/info")
                break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"DVID did not start: {(folder / 'stdout.log').read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def node(dvid):
    """A new repo's root node uuid."""
    return json.loads(_http("POST", dvid + "/api/repos", json.dumps({"alias": "test", "description": ""}).encode()))["root"]


def read_back(base, uuid, name, shape_zyx, dtype, offset_zyx=(0, 0, 0)):
    size = "_".join(str(n) for n in reversed(shape_zyx))
    offset = "_".join(str(n) for n in reversed(offset_zyx))
    body = _http("GET", f"{base}/api/node/{uuid}/{name}/raw/0_1_2/{size}/{offset}")
    return np.frombuffer(body, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape_zyx)


def info(base, uuid, name):
    return json.loads(_http("GET", f"{base}/api/node/{uuid}/{name}/info"))


def exists(base, uuid, name):
    try:
        info(base, uuid, name)
        return True
    except urllib.error.HTTPError as error:
        assert error.code == 400  # DVID's answer for an unknown data name
        return False


def export(source, url, **kwargs):
    settings = ExportSettings(output_format="dvid", output_filename_format=url, **kwargs)
    return export_result(source, settings, dict(NAMES), default_axis_order=source.axes, threads=2)


def test_uint8_volume_in_unaligned_blocks_round_trips(dvid, node, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a URL must never become folders here
    rng = np.random.default_rng(0)
    volume = rng.integers(1, 256, size=(40, 70, 50), dtype=np.uint8)  # no side a multiple of 32
    source = InMemoryResult(volume, "zyx", block_shape=(17, 23, 29))  # blocks unaligned to DVID's 32
    written = export(source, f"{dvid}/api/node/{node}/{{nickname}}_gray")
    assert written == [f"{dvid}/api/node/{node}/img_gray"]
    assert info(dvid, node, "img_gray")["Base"]["TypeName"] == "uint8blk"
    np.testing.assert_array_equal(read_back(dvid, node, "img_gray", volume.shape, np.uint8), volume)
    # whole DVID blocks are stored; the padding beyond the result is background
    padded = read_back(dvid, node, "img_gray", (64, 96, 64), np.uint8)
    np.testing.assert_array_equal(padded[:40, :70, :50], volume)
    assert padded[40:].max() == 0 and padded[:, 70:].max() == 0 and padded[:, :, 50:].max() == 0
    assert os.listdir(tmp_path) == []


def test_uint64_labels_2d_with_channel_go_to_labelblk(dvid, node):
    labels = (np.arange(45 * 33, dtype=np.uint64).reshape(45, 33, 1) * 123456789012)  # beyond 32 bits
    export(InMemoryResult(labels, "yxc"), f"{dvid}/api/node/{node}/labels")
    assert info(dvid, node, "labels")["Base"]["TypeName"] == "labelblk"
    np.testing.assert_array_equal(read_back(dvid, node, "labels", (1, 45, 33), np.uint64)[0], labels[..., 0])


@pytest.mark.parametrize("dtype, typename", [(np.uint16, "uint16blk"), (np.uint32, "uint32blk"), (np.float32, "float32blk")])
def test_other_dvid_voxel_types(dvid, node, dtype, typename):
    volume = (np.arange(3 * 40 * 35).reshape(3, 40, 35) * 7).astype(dtype)
    export(InMemoryResult(volume, "zyx"), f"{dvid}/api/node/{node}/vol")
    assert info(dvid, node, "vol")["Base"]["TypeName"] == typename
    np.testing.assert_array_equal(read_back(dvid, node, "vol", volume.shape, dtype), volume)


def test_dvid_axes_are_the_results_x_y_z_whatever_the_output_order(dvid, node):
    volume = np.arange(5 * 6 * 7, dtype=np.uint8).reshape(5, 6, 7)  # z, y, x
    export(InMemoryResult(volume, "zyx"), f"{dvid}/api/node/{node}/xyz", output_axis_order="xyz")
    np.testing.assert_array_equal(read_back(dvid, node, "xyz", volume.shape, np.uint8), volume)


def test_export_with_conversion_and_subregion_starts_at_dvid_origin(dvid, node):
    probabilities = np.linspace(0, 1, 2 * 30 * 40 * 2, dtype=np.float32).reshape(2, 30, 40, 2)
    export(InMemoryResult(probabilities, "zyxc"), f"{dvid}/api/node/{node}/p1",
           export_dtype="uint8", pipeline_result_drange=(0.0, 1.0), export_drange=(0, 255),
           cutout_subregion=[(0, 5, 10, 1), (2, 30, 40, 2)])
    expected = np.round(probabilities[:, 5:, 10:, 1] * 255).astype(np.uint8)
    got = read_back(dvid, node, "p1", expected.shape, np.uint8)
    assert np.abs(got.astype(int) - expected).max() <= 1  # rounding as in the other formats


def test_writing_into_an_existing_instance_overwrites_it(dvid, node):
    url = f"{dvid}/api/node/{node}/again"
    export(InMemoryResult(np.full((4, 8, 8), 9, np.uint8), "zyx"), url)
    export(InMemoryResult(np.full((4, 8, 8), 3, np.uint8), "zyx"), url)
    assert read_back(dvid, node, "again", (4, 8, 8), np.uint8).max() == 3


def test_existing_instance_of_another_type_is_refused_before_computing(dvid, node):
    export(InMemoryResult(np.ones((4, 8, 8), np.uint8), "zyx"), f"{dvid}/api/node/{node}/taken")
    computed = []

    class Source(InMemoryResult):
        def compute(self, start, stop):
            computed.append(start)
            return super().compute(start, stop)

    with pytest.raises(UserError, match="is a uint8blk instance, which cannot hold this uint64 result"):
        export(Source(np.ones((4, 8, 8), np.uint64), "zyx"), f"{dvid}/api/node/{node}/taken")
    assert computed == []


def test_failed_computation_leaves_nothing_on_the_server(dvid, node):
    class Failing(InMemoryResult):
        def compute(self, start, stop):
            if start[0] >= 32:
                raise RuntimeError("boom")
            return super().compute(start, stop)

    with pytest.raises(RuntimeError, match="boom"):
        export(Failing(np.ones((64, 40, 40), np.uint8), "zyx", block_shape=(32, 40, 40)), f"{dvid}/api/node/{node}/broken")
    assert not exists(dvid, node, "broken")


def test_locked_node_is_refused_before_computing(dvid, node):
    _http("POST", f"{dvid}/api/node/{node}/commit", json.dumps({"note": "done"}).encode())
    with pytest.raises(UserError, match=f"node {node[:10]} is locked"):
        export(InMemoryResult(np.ones((4, 8, 8), np.uint8), "zyx"), f"{dvid}/api/node/{node[:10]}/late")
    assert not exists(dvid, node, "late")


@pytest.mark.parametrize("url", [
    "/tmp/result",
    "http://127.0.0.1:8000/api/node/abc/name/",  # trailing slash
    "http://127.0.0.1:8000/prefix/api/node/abc/name",
    "http://127.0.0.1:8000/api/node/abc",
])
def test_a_url_not_naming_a_data_instance_is_refused(url):
    with pytest.raises(UserError, match=r"needs --output_filename_format to be a DVID data instance URL, "
                                        r"http://<host>:<port>/api/node/<uuid>/<data name>"):
        parse_dvid_url(url)


def test_unknown_node_and_unreachable_server_are_clear_errors(dvid, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = InMemoryResult(np.ones((4, 8, 8), np.uint8), "zyx")
    with pytest.raises(UserError, match="refused to find the node ffff1234.*could not find UUID"):
        export(source, f"{dvid}/api/node/ffff1234/name")
    with pytest.raises(UserError, match=r"Could not reach the DVID server at http://127.0.0.1:\d+ .*start the server"):
        export(source, f"http://127.0.0.1:{_free_port()}/api/node/abc/name")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("array, axes, message", [
    (np.zeros((4, 8, 8, 2), np.uint8), "zyxc", "holds one channel, but the result has 2: export one channel at a time"),
    (np.zeros((3, 4, 8, 8), np.uint8), "tzyx", "holds one 3D volume, but the result has 3 time points"),
    (np.zeros((4, 8, 8), np.float64), "zyx", "not float64: add --export_dtype uint8"),
    (np.zeros((4, 8, 8), np.int16), "zyx", "not int16: add --export_dtype"),
])
def test_what_dvid_cannot_hold_is_refused_with_a_fix(array, axes, message):
    with pytest.raises(UserError, match=message):
        export(InMemoryResult(array, axes), "http://127.0.0.1:1/api/node/abc/name")


def test_dvid_is_registered_as_a_remote_format():
    from pixelserve.export.formats import WRITERS

    assert WRITERS["dvid"] is DvidWriter and DvidWriter.remote
