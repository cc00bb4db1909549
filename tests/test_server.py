"""The prediction server, for real: a gRPC server on 127.0.0.1 with an ephemeral port, the
Python client, and raw protocol messages for what a well-behaved client never sends."""

from __future__ import annotations

import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import tifffile

from conftest import require_fixtures
from pixelserve import protocol
from pixelserve.client import Client, Dataset, ServerError
from pixelserve.headless.cli import main as cli_main
from pixelserve.server.app import Limits, Server, ServerConfig
from pixelserve.synthetic import cells_image

TOKEN = "s3cret-token-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def root(tmp_path_factory, project_2d):
    folder = tmp_path_factory.mktemp("served")
    shutil.copy(project_2d, folder / "cells.ilp")
    image, _ = cells_image((200, 240), seed=21)
    tifffile.imwrite(folder / "image.tif", image)
    return folder


@pytest.fixture(scope="module")
def server(root):
    server = Server(ServerConfig(allowed_roots=(str(root),), limits=Limits(max_chunk_bytes=1 << 20, max_request_bytes=64 << 20)))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(server):
    with Client(f"127.0.0.1:{server.port}") as client:
        yield client


def cli_result(root, tmp_path, *flags) -> np.ndarray:
    output = tmp_path / "cli"
    assert cli_main(["--headless", f"--project={root / 'cells.ilp'}", "--output_format=numpy",
                     f"--output_filename_format={output}", *flags, str(root / "image.tif")]) == 0
    return np.load(f"{output}.npy")


# --- results -------------------------------------------------------------------------------

def test_health_info_and_reflection(client, server):
    assert client.health() == "SERVING"
    assert client.health("pixelserve.v1.PredictionService") == "SERVING"
    info = client.server_info()
    assert info.max_chunk_bytes == 1 << 20 and "Pixel Classification" in info.workflows
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(client.channel)
    [answer] = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in answer.list_services_response.service}
    assert {"pixelserve.v1.PredictionService", "pixelserve.v1.DatasetService", "grpc.health.v1.Health"} <= names


def test_project_info_describes_the_training_data(client):
    info = client.project_info("cells.ilp")
    assert info.workflow == "Pixel Classification"
    raw = info.input_roles[0]
    assert (raw.name, raw.channels, raw.spatial_dims, raw.flag) == ("Raw Data", 1, 2, "--raw_data")
    assert [label.name for label in info.labels] == ["background", "cell"]
    assert info.default_export_source == "Probabilities" and "Simple Segmentation" in info.export_sources
    assert info.min_image_size > 0


def test_round_trip_equals_the_cli_bit_for_bit(client, root, tmp_path):
    image = tifffile.imread(root / "image.tif")
    seen = []
    result = client.predict("cells.ilp", image, "yx", progress=lambda done, total, phase: seen.append((done, total, phase)))
    np.testing.assert_array_equal(result.array, cli_result(root, tmp_path))
    assert result.axes == "yxc" and result.channel_names == ["background", "cell"] and result.drange == (0.0, 1.0)
    assert seen[0][2] == "loading project" and any(phase == "computing" for _, _, phase in seen)

    flags = dict(export_source="Simple Segmentation", export_dtype="uint16", output_axis_order="cyx",
                 cutout_subregion=((10, 20, 0), (150, None, 1)))
    segmentation = client.predict("cells.ilp", image, "yx", **flags)
    expected = cli_result(root, tmp_path, "--export_source=Simple Segmentation", "--export_dtype=uint16",
                          "--output_axis_order=cyx", "--cutout_subregion=[(10,20,0),(150,None,1)]")
    assert segmentation.array.dtype == np.uint16 and segmentation.axes == "cyx"
    np.testing.assert_array_equal(segmentation.array, expected)
    assert len(segmentation.label_colors) == 2


def test_dataset_on_the_server_with_subregion(client, root, tmp_path):
    whole = client.predict("cells.ilp", Dataset("image.tif"))
    np.testing.assert_array_equal(whole.array, cli_result(root, tmp_path))
    part = client.predict("cells.ilp", Dataset(str(root / "image.tif"), subregion=((0, 100), (40, 240))))
    image = tifffile.imread(root / "image.tif")
    np.testing.assert_array_equal(part.array, client.predict("cells.ilp", image[:100, 40:], "yx").array)


def test_autocontext_round_trip_equals_the_cli(tmp_path):
    folder = require_fixtures()
    with __import__("zipfile").ZipFile(folder / "api_projects.zip") as archive:
        archive.extractall(tmp_path)
    from PIL import Image

    image = np.asarray(Image.open(tmp_path / "Data_1channel.png"))[..., None]
    server = Server(ServerConfig(allowed_roots=(str(tmp_path),)))
    server.start()
    try:
        with Client(f"127.0.0.1:{server.port}") as client:
            result = client.predict("Autocontext_2D.ilp", image, "yxc", export_source="Probabilities Stage 2")
    finally:
        server.stop()
    output = tmp_path / "cli"
    assert cli_main(["--headless", f"--project={tmp_path / 'Autocontext_2D.ilp'}", "--input_axes=yxc",
                     "--export_source=Probabilities Stage 2", "--output_format=numpy",
                     f"--output_filename_format={output}", str(tmp_path / "Data_1channel.png")]) == 0
    np.testing.assert_array_equal(result.array, np.load(f"{output}.npy"))


def test_eight_clients_at_once(server, root):
    images = [cells_image((96 + 8 * k, 128), seed=40 + k)[0] for k in range(8)]
    with Client(f"127.0.0.1:{server.port}") as solo:
        expected = [solo.predict("cells.ilp", image, "yx").array for image in images]

    def run(k):
        with Client(f"127.0.0.1:{server.port}") as client:
            return client.predict("cells.ilp", images[k], "yx", export_source="Probabilities").array

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(8)))
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_cancel_stops_the_job_within_a_second(client, server):
    image = np.random.default_rng(0).integers(0, 255, (2048, 2048), dtype=np.uint8)
    cancel = threading.Event()

    def on_progress(done, total, phase):
        if phase == "computing":
            cancel.set()

    with pytest.raises(ServerError) as error:
        client.predict("cells.ilp", image, "yx", progress=on_progress, cancel=cancel)
    assert error.value.code == grpc.StatusCode.CANCELLED
    stopped = time.monotonic()
    while server.jobs.running() and time.monotonic() - stopped < 5:
        time.sleep(0.02)
    assert server.jobs.running() == 0
    assert time.monotonic() - stopped < 1.0
    assert client.health() == "SERVING"


def test_a_small_request_is_not_starved_by_a_huge_one(server, root):
    huge = np.random.default_rng(1).integers(0, 255, (3072, 3072), dtype=np.uint8)
    small = cells_image((96, 96), seed=3)[0]
    cancel = threading.Event()
    started = threading.Event()

    def run_huge():
        with Client(f"127.0.0.1:{server.port}") as client:
            try:
                client.predict("cells.ilp", huge, "yx", cancel=cancel,
                               progress=lambda d, t, phase: phase == "computing" and started.set())
            except ServerError:
                pass

    thread = threading.Thread(target=run_huge)
    thread.start()
    try:
        assert started.wait(60)
        with Client(f"127.0.0.1:{server.port}") as client:
            began = time.monotonic()
            client.predict("cells.ilp", small, "yx")
            small_seconds = time.monotonic() - began
        assert thread.is_alive(), "the huge job should still be running"
        assert small_seconds < 10
    finally:
        cancel.set()
        thread.join(30)


# --- datasets ------------------------------------------------------------------------------

def test_hdf5_write_list_read_round_trip(client, root):
    volume = np.arange(4 * 30 * 40, dtype=np.uint16).reshape(4, 30, 40)
    written = client.write_dataset("out/volume.h5", volume, "zyx", internal_path="raw/cells",
                                   resolution={"z": 2.0, "y": 0.5, "x": 0.5})
    assert written == str(root / "out" / "volume.h5")
    assert client.list_datasets("out/volume.h5") == {"raw/cells": ((4, 30, 40), np.dtype("uint16"), "zyx")}
    back = client.read_dataset("out/volume.h5/raw/cells")
    np.testing.assert_array_equal(back.array, volume)
    assert back.axes == "zyx" and back.resolution["z"] == 2.0
    box = client.read_dataset("out/volume.h5/raw/cells", subregion=((1, 3), (5, 25), (0, 40)))
    np.testing.assert_array_equal(box.array, volume[1:3, 5:25])


def test_large_dataset_is_streamed_in_chunks_within_the_limit(client, root):
    data = np.random.default_rng(2).random((16, 256, 256), dtype=np.float32)  # 4 MiB, 1 MiB chunks
    client.write_dataset("big.h5", data, "zyx", compressed=False)
    np.testing.assert_array_equal(client.read_dataset("big.h5/exported_data").array, data)


# --- refusals ------------------------------------------------------------------------------

def raw_predict(server, messages, metadata=()):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        stub = protocol.prediction_grpc.PredictionServiceStub(channel)
        return list(stub.Predict(iter(messages), metadata=metadata))
    finally:
        channel.close()


def header(shape=(64, 64), axes="yx", dtype=protocol.arrays.DTYPE_UINT8, project="cells.ilp"):
    message = protocol.prediction.PredictHeader(project=project)
    message.inputs.add(array=protocol.arrays.ArrayHeader(dtype=dtype, shape=list(shape), axes=axes))
    return protocol.prediction.PredictRequest(header=message)


def chunk(data: bytes, index=0):
    return protocol.prediction.PredictRequest(chunk=protocol.arrays.Chunk(array_index=index, data=data))


@pytest.mark.parametrize("messages, code, words", [
    ([chunk(b"x")], "INVALID_ARGUMENT", "first message"),
    ([header(dtype=0)], "INVALID_ARGUMENT", "dtype"),
    ([header(axes="yxq")], "INVALID_ARGUMENT", "axes"),
    ([header(shape=(64, 0))], "INVALID_ARGUMENT", "at least 1"),
    ([header(), chunk(bytes(64 * 64 + 1))], "INVALID_ARGUMENT", "announces"),
    ([header(), chunk(bytes(100))], "INVALID_ARGUMENT", "ended after 100"),
    ([header(), chunk(bytes(64 * 64), index=3)], "INVALID_ARGUMENT", "input 3"),
    ([header(shape=(64, 64, 3), axes="yxc"), chunk(bytes(64 * 64 * 3))], "INVALID_ARGUMENT", "3 channel"),
    ([header(shape=(8, 64, 64), axes="zyx"), chunk(bytes(8 * 64 * 64))], "INVALID_ARGUMENT", "3D"),
    ([header(shape=(9000, 9000))], "RESOURCE_EXHAUSTED", "limit"),
    # the byte count of these overflows int64
    ([header(shape=(2**32 + 1, 2**32 - 1))], "RESOURCE_EXHAUSTED", "18446744073709551615 bytes, more than"),
    ([header(shape=(2**62, 64), dtype=protocol.arrays.DTYPE_FLOAT64)], "RESOURCE_EXHAUSTED", "more than this server's limit"),
    ([header(), chunk(bytes(64 * 64)), chunk(b"x")], "INVALID_ARGUMENT", "after all the bytes the header announces"),
    ([header(project="missing.ilp")], "NOT_FOUND", "does not exist"),
    ([header(project="*.ilp")], "NOT_FOUND", "is no file"),
    ([header(project="cells.ilp/raw")], "NOT_FOUND", "is no file"),
    ([header(project="../outside.ilp")], "PERMISSION_DENIED", "outside"),
    ([header(project="/etc/hostname")], "PERMISSION_DENIED", "outside"),
])
def test_bad_requests_get_the_right_status(server, client, messages, code, words):
    with pytest.raises(grpc.RpcError) as error:
        raw_predict(server, messages)
    assert error.value.code().name == code
    assert words in error.value.details(), error.value.details()
    assert client.health() == "SERVING"


def test_a_chunk_above_the_limit_is_refused(server, client):
    above = (1 << 20) + (1 << 19)  # above the 1 MiB chunk limit, within gRPC's message limit
    with pytest.raises(grpc.RpcError) as error:
        raw_predict(server, [header(shape=(2048, 1024)), chunk(bytes(above))])
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most that size" in error.value.details()
    with pytest.raises(grpc.RpcError) as error:  # beyond any message gRPC lets in
        raw_predict(server, [header(shape=(2048, 2048)), chunk(bytes(3 << 20))])
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert client.health() == "SERVING"


def test_symlinks_out_of_the_root_are_refused(client, root, tmp_path):
    outside = tmp_path / "secret.h5"
    shutil.copy(root / "cells.ilp", tmp_path / "secret.ilp")
    import h5py

    with h5py.File(outside, "w") as file:
        file["data"] = np.zeros((4, 4))
    os.symlink(outside, root / "link.h5")
    os.symlink(tmp_path / "secret.ilp", root / "link.ilp")
    for call in (lambda: client.read_dataset("link.h5/data"), lambda: client.project_info("link.ilp"),
                 lambda: client.list_datasets("link.h5"), lambda: client.write_dataset("link.h5", np.zeros(3), "x"),
                 lambda: client.read_dataset(f"{root}/../{tmp_path.name}/secret.h5/data")):
        with pytest.raises(ServerError) as error:
            call()
        assert error.value.code == grpc.StatusCode.PERMISSION_DENIED, error.value


def test_token_is_required_when_configured(root):
    server = Server(ServerConfig(allowed_roots=(str(root),), token=TOKEN))
    server.start()
    try:
        address = f"127.0.0.1:{server.port}"
        for token in (None, "wrong-token-of-some-length"):
            with Client(address, token=token) as client, pytest.raises(ServerError) as error:
                client.project_info("cells.ilp")
            assert error.value.code == grpc.StatusCode.UNAUTHENTICATED and "token" in str(error.value)
        with Client(address, token=TOKEN) as client:
            assert client.project_info("cells.ilp").workflow == "Pixel Classification"
            assert client.health() == "SERVING"
        with Client(address) as client:
            assert client.health() == "SERVING"  # probes need no token
    finally:
        server.stop()


def test_listening_beyond_loopback_needs_a_token(root):
    from pixelserve.errors import UserError

    with pytest.raises(UserError, match="requires a token"):
        Server(ServerConfig(allowed_roots=(str(root),), host="0.0.0.0"))


def test_changed_project_is_reloaded(tmp_path, project_2d, project_3d):
    shutil.copy(project_2d, tmp_path / "p.ilp")
    server = Server(ServerConfig(allowed_roots=(str(tmp_path),)))
    server.start()
    try:
        with Client(f"127.0.0.1:{server.port}") as client:
            assert client.project_info("p.ilp").input_roles[0].spatial_dims == 2
            assert client.project_info("p.ilp").input_roles[0].spatial_dims == 2
            assert len(server.projects) == 1
            shutil.copy(project_3d, tmp_path / "p.ilp")
            os.utime(tmp_path / "p.ilp", ns=(time.time_ns(), time.time_ns() + 10**9))
            assert client.project_info("p.ilp").input_roles[0].spatial_dims == 3
            assert len(server.projects) == 1
    finally:
        server.stop()


# --- pixelserve serve ----------------------------------------------------------------------

def test_serve_command_port_file_and_clean_stop_on_sigterm(root, tmp_path):
    import signal
    import subprocess
    import sys

    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "pixelserve.headless.cli", "serve", "--port", "0", "--port-file", str(port_file),
               "--allowed-root", str(root)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        port = int(port_file.read_text())
        with Client(f"127.0.0.1:{port}") as client:
            assert client.project_info("cells.ilp").workflow == "Pixel Classification"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert f"listening on 127.0.0.1:{port}" in out and "stopped" in out
    assert "GetProjectInfo OK" in err  # one log line per request


def test_serve_refuses_an_open_address_without_token(root):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "pixelserve.headless.cli", "serve", "--host", "0.0.0.0",
                             "--allowed-root", str(root)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--token-file" in result.stderr


def test_link_probe_moves_the_bytes_both_ways(client, server):
    up, down = client.measure_link(8 << 20)
    assert up > 0 and down > 0
    with pytest.raises(ServerError) as error:
        client.measure_link(server.limits.max_request_bytes + (1 << 20))
    assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


# --- training ------------------------------------------------------------------------------

def test_training_over_the_wire_equals_local_training(client, root, tmp_path):
    import pixelserve
    from pixelserve.synthetic import scribbles

    image, truth = cells_image((128, 160), seed=31)
    labels = scribbles(truth, seed=31)
    phases = []
    info = client.train("trained/wire.ilp", [((image, "yx"), labels)], label_names=["bg", "cell"], trees=10, seed=3,
                        progress=lambda done, total, phase: phases.append(phase))
    assert info.workflow == "Pixel Classification" and [label.name for label in info.labels] == ["bg", "cell"]
    assert (root / "trained" / "wire.ilp").exists() and (root / "trained" / "wire_training" / "image_0.h5").exists()
    assert any("training 10 trees" in phase for phase in phases)

    tifffile.imwrite(tmp_path / "raw.tif", image)
    local = pixelserve.train(str(tmp_path / "raw.tif"), labels, str(tmp_path / "local.ilp"), label_names=["bg", "cell"],
                             trees=10, seed=3)
    remote = client.predict("trained/wire.ilp", image, "yx").array
    np.testing.assert_array_equal(remote, local.predict(image, "yx"))


def test_training_refusals(client, root):
    image = cells_image((96, 96), seed=1)[0]
    with pytest.raises(ServerError) as error:
        client.train("bad.ilp", [((image, "yx"), np.zeros((50, 50), np.uint8))])
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ServerError) as error:
        client.train("../escape.ilp", [((image, "yx"), np.ones((96, 96), np.uint8))])
    assert error.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert not (root / "bad.ilp").exists() and client.health() == "SERVING"


def test_several_roles_in_one_request(client, root):
    image = tifffile.imread(root / "image.tif")
    mask = np.zeros(image.shape, np.uint8)
    mask[:, :100] = 1
    masked = client.predict("cells.ilp", image, "yx", inputs={"Prediction Mask": (mask, "yx")}).array
    whole = client.predict("cells.ilp", image, "yx").array
    assert not masked[:, 100:].any()
    np.testing.assert_array_equal(masked[:, :100], whole[:, :100])


# --- pixelserve --headless --server --------------------------------------------------------

def test_headless_on_a_server_writes_what_a_local_run_writes(server, root, tmp_path):
    from PIL import Image

    frames = root / "frames"
    frames.mkdir(exist_ok=True)
    for index in range(3):
        Image.fromarray(cells_image((96, 96), seed=50 + index, n_cells=5)[0]).save(frames / f"f_{index}.png")
    runs = {
        "tif": ["--output_format=tif", "--export_source=Simple Segmentation", str(root / "image.tif")],
        "png": ["--output_format=png", "--export_dtype=uint8", "--pipeline_result_drange=(0.0,1.0)",
                "--export_drange=(0,255)", "--cutout_subregion=[(10,20,1),(150,None,2)]", str(root / "image.tif")],
        "stack": ["--output_format=compressed hdf5", "--stack_along=t", str(frames / "f_*.png")],
    }
    for name, flags in runs.items():
        outputs = {}
        for where in ("local", "remote"):
            folder = tmp_path / name / where
            extra = [f"--server=127.0.0.1:{server.port}"] if where == "remote" else []
            assert cli_main(["--headless", f"--project={root / 'cells.ilp'}", *extra,
                             f"--output_filename_format={folder}/{{nickname}}_{{result_type}}", *flags]) == 0
            [outputs[where]] = sorted(folder.iterdir())
        assert outputs["local"].name == outputs["remote"].name
        assert outputs["local"].read_bytes() == outputs["remote"].read_bytes() or name == "stack"
        if name == "stack":
            import h5py

            with h5py.File(outputs["local"]) as local, h5py.File(outputs["remote"]) as remote:
                np.testing.assert_array_equal(local["exported_data"][()], remote["exported_data"][()])
                assert local["exported_data"].attrs["axistags"] == remote["exported_data"].attrs["axistags"]


def test_headless_on_a_server_explains_refusals(server, root, tmp_path, capsys):
    code = cli_main(["--headless", f"--project={root / 'cells.ilp'}", "--server=127.0.0.1:1",
                     str(root / "image.tif")])
    assert code == 2 and "127.0.0.1:1" in capsys.readouterr().err
    outside = tmp_path / "outside.tif"
    tifffile.imwrite(outside, np.zeros((64, 64), np.uint8))
    code = cli_main(["--headless", f"--project={root / 'cells.ilp'}", f"--server=127.0.0.1:{server.port}",
                     f"--output_filename_format={tmp_path}/out", str(outside)])
    err = capsys.readouterr().err
    assert code == 2 and "outside the server's allowed roots" in err
    assert not (tmp_path / "out.h5").exists()
