"""The prediction server against hostile and careless clients (issue 16): files reached
through HDF5, N5, zarr and OME-TIFF indirection or glob members outside the roots, idle and
surplus streams, undecodable and overflowing requests, training that is cancelled or refused.
A real server on 127.0.0.1 with an ephemeral port; raw protocol messages where a well-behaved
client would never send them. Memory and SIGTERM: tests/test_server_memory.py."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time

import grpc
import h5py
import numpy as np
import pytest
import tifffile

from pixelserve import protocol
from pixelserve.client import Client, Dataset, ServerError
from pixelserve.export import ExportSettings, InMemoryResult, export_result
from pixelserve.server.app import Server, ServerConfig
from pixelserve.server.limits import Limits
from pixelserve.synthetic import cells_image, scribbles
from test_server import header

IDLE_TIMEOUT = 1.5
MAX_STREAMS = 4
OUTSIDE = "outside the server's allowed roots"


@pytest.fixture(scope="module")
def folders(tmp_path_factory, project_2d):
    """An allowed root, and next to it a folder of secrets the server must never read."""
    base = tmp_path_factory.mktemp("hardening")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    shutil.copy(project_2d, root / "cells.ilp")
    tifffile.imwrite(root / "image.tif", cells_image((96, 96), seed=3)[0])
    (outside / "secret.bin").write_bytes(bytes(range(256)) * 16)
    with h5py.File(outside / "secret.h5", "w") as file:
        file["data"] = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    return root, outside


@pytest.fixture(scope="module")
def server(folders):
    root, _ = folders
    limits = Limits(max_chunk_bytes=1 << 20, max_request_bytes=64 << 20, max_streams=MAX_STREAMS,
                    idle_timeout=IDLE_TIMEOUT, max_inflight_bytes=160 << 20)
    server = Server(ServerConfig(allowed_roots=(str(root),), limits=limits))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(server):
    with Client(f"127.0.0.1:{server.port}", timeout=60) as client:
        yield client


def refused(call, code=grpc.StatusCode.PERMISSION_DENIED) -> str:
    with pytest.raises(ServerError) as error:
        call()
    assert error.value.code == code, error.value
    return str(error.value)


# --- 1. files reached through HDF5, N5, zarr and OME-TIFF indirection -------------------------

def hostile_files(root, outside):
    """{name in the root: how it reaches outside} for every kind of indirection."""
    with h5py.File(root / "external_storage.h5", "w") as file:
        file.create_dataset("data", shape=(64, 64), dtype=np.uint8, external=[(str(outside / "secret.bin"), 0, 4096)])
    with h5py.File(root / "relative_storage.h5", "w") as file:  # HDF5 looks next to the file, then in the cwd
        file.create_dataset("data", shape=(64, 64), dtype=np.uint8, external=[("../outside/secret.bin", 0, 4096)])
    for name, source in (("virtual.h5", str(outside / "secret.h5")), ("relative_virtual.h5", "../outside/secret.h5")):
        layout = h5py.VirtualLayout(shape=(64, 64), dtype=np.uint16)
        layout[:] = h5py.VirtualSource(source, "data", shape=(64, 64))
        with h5py.File(root / name, "w") as file:
            file.create_virtual_dataset("data", layout)
    with h5py.File(root / "external_link.h5", "w") as file:
        file["data"] = h5py.ExternalLink(str(outside / "secret.h5"), "/data")
    # N5: a block folder that is a symlink out; zarr: a chunk file that is one.
    volume = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    for format_name, name in (("n5", "volume.n5"), ("zarr", "volume.zarr")):
        settings = ExportSettings(output_format=format_name, output_filename_format=str(root / name),
                                  output_internal_path="raw", output_axis_order="yx")
        export_result(InMemoryResult(volume, "yx", block_shape=(32, 32)), settings, {})
    block = root / "volume.n5" / "raw" / "0"
    shutil.move(block, outside / "n5_blocks")
    os.symlink(outside / "n5_blocks", block)
    chunk = next(path for path in sorted((root / "volume.zarr" / "raw").rglob("*"))
                 if path.is_file() and not path.name.startswith((".", "zarr")))
    shutil.move(chunk, outside / "zarr_chunk")
    os.symlink(outside / "zarr_chunk", chunk)
    # OME-TIFF: tifffile reads the other files of a multi-file series that its OME-XML names.
    ome = ('<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
           'UUID="urn:uuid:{own}"><Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint8" '
           'SizeX="64" SizeY="64" SizeZ="2" SizeC="1" SizeT="1"><Channel ID="Channel:0:0" SamplesPerPixel="1"/>'
           '<TiffData IFD="0" FirstZ="0" PlaneCount="1"><UUID FileName="series.ome.tif">urn:uuid:1</UUID></TiffData>'
           '<TiffData IFD="0" FirstZ="1" PlaneCount="1"><UUID FileName="../outside/part.ome.tif">urn:uuid:2</UUID>'
           '</TiffData></Pixels></Image></OME>')
    tifffile.imwrite(root / "series.ome.tif", volume, description=ome.format(own=1), metadata=None)
    tifffile.imwrite(outside / "part.ome.tif", volume, description=ome.format(own=2), metadata=None)
    return {"external_storage.h5/data": "external storage", "relative_storage.h5/data": "external storage",
            "virtual.h5/data": "virtual dataset", "relative_virtual.h5/data": "virtual dataset",
            "external_link.h5/data": "external link", "volume.n5/raw": "symbolic link",
            "volume.zarr/raw": "symbolic link", "series.ome.tif": "OME-XML"}


def test_indirection_out_of_the_roots_is_refused(client, folders):
    root, outside = folders
    for path, how in hostile_files(root, outside).items():
        for call in (lambda path=path: client.read_dataset(path),
                     lambda path=path: client.predict("cells.ilp", Dataset(path)),
                     lambda path=path: client.list_datasets(path.split("/")[0])):
            message = refused(call)
            assert OUTSIDE in message and how in message and str(outside) in message, message
    # Training continues a project from a dataset on the server: refused alike.
    message = refused(lambda: client.train("t.ilp", [(Dataset("virtual.h5/data"), np.ones((64, 64), np.uint8))]))
    assert "virtual dataset" in message and not (root / "t.ilp").exists()
    assert client.health() == "SERVING"


def test_a_project_or_output_file_that_links_out_is_refused(client, folders):
    root, outside = folders
    shutil.copy(root / "cells.ilp", root / "linked.ilp")
    with h5py.File(root / "linked.ilp", "a") as file:
        file["extra"] = h5py.ExternalLink(str(outside / "secret.h5"), "/data")
    message = refused(lambda: client.project_info("linked.ilp"))
    assert "external link 'extra'" in message and OUTSIDE in message
    refused(lambda: client.predict("linked.ilp", np.zeros((64, 64), np.uint8), "yx"))
    # Writing into a file whose group is an external link would write the outside file.
    with h5py.File(root / "writable.h5", "w") as file:
        file["group"] = h5py.ExternalLink(str(outside / "secret.h5"), "/")
    before = hashlib.sha256((outside / "secret.h5").read_bytes()).hexdigest()
    message = refused(lambda: client.write_dataset("writable.h5", np.zeros((8, 8), np.uint8), "yx",
                                                   internal_path="group/written"))
    assert "external link 'group'" in message
    assert hashlib.sha256((outside / "secret.h5").read_bytes()).hexdigest() == before
    assert client.health() == "SERVING"


def test_indirection_inside_the_roots_is_served(client, folders):
    root, _ = folders
    with h5py.File(root / "target.h5", "w") as file:
        file["data"] = np.full((64, 64), 7, np.uint8)
    with h5py.File(root / "inner_link.h5", "w") as file:
        layout = h5py.VirtualLayout(shape=(64, 64), dtype=np.uint8)
        layout[:] = h5py.VirtualSource("target.h5", "data", shape=(64, 64))
        file.create_virtual_dataset("virtual", layout)
        file["linked"] = h5py.ExternalLink("target.h5", "/data")  # inside: harmless (and not read as a dataset)
    assert (client.read_dataset("inner_link.h5/virtual").array == 7).all()


# --- 2. glob members are checked before any is opened ----------------------------------------

def test_a_glob_member_leading_out_is_refused_before_it_is_opened(client, folders):
    root, outside = folders
    (root / "glob").mkdir()
    tifffile.imwrite(root / "glob" / "a.tif", np.zeros((64, 64), np.uint8))
    os.mkfifo(outside / "pipe.tif")  # opening it would block: the call would time out
    os.symlink(outside / "pipe.tif", root / "glob" / "b.tif")
    messages = [refused(lambda: client.read_dataset("glob/*.tif"))]
    os.remove(root / "glob" / "b.tif")
    os.symlink(outside / "missing.tif", root / "glob" / "b.tif")  # the same answer: existence is not told
    messages.append(refused(lambda: client.predict("cells.ilp", Dataset("glob/*.tif"))))
    for message, target in zip(messages, ("pipe.tif", "missing.tif")):
        assert f"resolves to {outside / target}, {OUTSIDE}" in message, message
    assert client.health() == "SERVING"


# --- 3. idle streams and the bound on streams ---------------------------------------------------

def open_stream(server, messages_then_wait, done: threading.Event):
    """A Predict call that sends `messages_then_wait` and then nothing until `done`; returns
    (the thread reading its answer, the answer: a list that receives the RpcError)."""
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    stub = protocol.prediction_grpc.PredictionServiceStub(channel)

    def requests():
        yield from messages_then_wait
        done.wait()

    outcome = []

    def read():
        try:
            for _ in stub.Predict(requests()):
                pass
        except grpc.RpcError as error:
            outcome.append(error)
        finally:
            channel.close()

    thread = threading.Thread(target=read)
    thread.start()
    return thread, outcome


def test_idle_streams_end_and_never_starve_health_or_small_calls(server, client):
    done = threading.Event()
    try:
        # Half send nothing at all, half a header and no bytes.
        streams = [open_stream(server, [] if k % 2 else [header()], done) for k in range(MAX_STREAMS)]
        time.sleep(0.3)
        began = time.monotonic()
        info = client.server_info()   # the limits are told, so that a client can keep within them
        assert client.health() == "SERVING" and info.max_chunk_bytes == 1 << 20
        assert (info.max_streams, info.idle_timeout_seconds) == (MAX_STREAMS, IDLE_TIMEOUT) and info.max_inflight_bytes > 0
        assert client.project_info("cells.ilp").workflow == "Pixel Classification"
        assert time.monotonic() - began < IDLE_TIMEOUT  # answered at once, not after the idle streams
        message = refused(lambda: client.predict("cells.ilp", np.zeros((64, 64), np.uint8), "yx"),
                          grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert f"{MAX_STREAMS} streams open" in message and "--max-streams" in message
        for thread, outcome in streams:
            thread.join(IDLE_TIMEOUT + 10)
            assert outcome[0].code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert f"No message arrived for {IDLE_TIMEOUT:g} s" in outcome[0].details()
    finally:
        done.set()
    image = cells_image((64, 64), seed=4)[0]
    assert client.predict("cells.ilp", image, "yx").array.shape == (64, 64, 2)  # the slots are free again


def test_a_client_that_takes_no_answer_is_ended(server, client, folders):
    root, _ = folders
    client.write_dataset("large.h5", np.ones((64, 1024, 1024), np.uint8), "zyx", compressed=True)
    channels = [grpc.insecure_channel(f"127.0.0.1:{server.port}") for _ in range(MAX_STREAMS)]
    try:
        calls = [protocol.datasets_grpc.DatasetServiceStub(channel).ReadDataset(
            protocol.datasets.ReadDatasetRequest(path="large.h5/exported_data")) for channel in channels]
        for call in calls:  # one message each, then never another
            next(call)
        time.sleep(IDLE_TIMEOUT + 2.5)
        for call in calls:
            with pytest.raises(grpc.RpcError) as error:
                for _ in call:
                    pass
            assert error.value.code() == grpc.StatusCode.CANCELLED
        image = cells_image((64, 64), seed=5)[0]
        assert client.predict("cells.ilp", image, "yx").array.shape == (64, 64, 2)
    finally:
        for channel in channels:
            channel.close()


# --- 4 (the budget), 11: statuses (9, 10: test_server.test_bad_requests_get_the_right_status) ---

def test_the_in_flight_budget_refuses_what_does_not_fit(server, client):
    done = threading.Event()
    try:
        # Three headers of 49 MB each hold 147 MB of the 160 MiB budget: 63 MB more do not fit.
        held = [open_stream(server, [header(shape=(7000, 7000))], done) for _ in range(3)]
        time.sleep(0.5)
        assert server.inflight.used == 3 * 7000 * 7000
        message = refused(lambda: client.predict("cells.ilp", np.zeros((9000, 7000), np.uint8), "yx"),
                          grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert "--max-inflight-bytes" in message and f"hold {3 * 7000 * 7000}" in message
    finally:
        done.set()
    for thread, _ in held:
        thread.join(10)
    deadline = time.monotonic() + 5
    while server.inflight.used and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.inflight.used == 0


def test_undecodable_requests_get_invalid_argument(server, client):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        for method, call in (("/pixelserve.v1.PredictionService/Predict", channel.stream_stream),
                             ("/pixelserve.v1.ServerService/GetServerInfo", channel.unary_unary)):
            send = call(method, request_serializer=lambda data: data, response_deserializer=lambda data: data)
            garbage = b"\xff\xff\xff\xff"
            with pytest.raises(grpc.RpcError) as error:
                if call == channel.stream_stream:
                    list(send(iter([garbage])))
                else:
                    send(garbage)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value
            assert "is not a valid" in error.value.details() and ".proto" in error.value.details()
    assert client.health() == "SERVING"


# --- 6, 8: training that is cancelled or refused ---------------------------------------------

@pytest.fixture(scope="module")
def training_data():
    image, truth = cells_image((256, 256), seed=12)
    return image, scribbles(truth, seed=12, per_class=200)


def test_cancelled_training_stops_within_a_second_and_leaves_nothing(server, client, folders, training_data):
    root, _ = folders
    image, labels = training_data
    cancel = threading.Event()
    cancelled_at = []

    def on_progress(done, total, phase):
        if "trees" in phase and done > 0 and not cancel.is_set():
            cancelled_at.append(time.monotonic())
            cancel.set()

    message = refused(lambda: client.train("slow.ilp", [((image, "yx"), labels)], trees=2000, seed=1,
                                           progress=on_progress, cancel=cancel), grpc.StatusCode.CANCELLED)
    while server.jobs.running() and time.monotonic() - cancelled_at[0] < 10:
        time.sleep(0.02)
    stopped = time.monotonic() - cancelled_at[0]
    assert server.jobs.running() == 0, message
    assert stopped < 2.0, f"training went on for {stopped:.2f} s after the cancel"
    assert not (root / "slow.ilp").exists() and not (root / "slow_training").exists()
    assert not [path for path in root.iterdir() if path.name.endswith(".part")]
    assert client.health() == "SERVING"


def test_refused_training_writes_nothing_and_keeps_what_was_there(server, client, folders, training_data):
    root, _ = folders
    image, labels = training_data
    message = refused(lambda: client.train("bad.ilp", [((image, "yx"), labels[:200])]), grpc.StatusCode.INVALID_ARGUMENT)
    assert "shape" in message and not (root / "bad_training").exists() and not (root / "bad.ilp").exists()
    # Refused after the image was saved (one class only): nothing stays either.
    message = refused(lambda: client.train("bad.ilp", [((image, "yx"), (labels > 0).astype(np.uint8))]),
                      grpc.StatusCode.INVALID_ARGUMENT)
    assert "Only class 1" in message and not (root / "bad_training").exists()
    # A refused retraining keeps the image of the project trained before.
    client.train("kept.ilp", [((image, "yx"), labels)], trees=4, seed=0)
    saved = root / "kept_training" / "image_0.h5"
    before = saved.read_bytes()
    refused(lambda: client.train("kept.ilp", [((image[:128], "yx"), (labels[:128] > 0).astype(np.uint8))]),
            grpc.StatusCode.INVALID_ARGUMENT)
    assert saved.read_bytes() == before and sorted(p.name for p in saved.parent.iterdir()) == ["image_0.h5"]
    assert client.project_info("kept.ilp").workflow == "Pixel Classification"


def test_training_refuses_a_project_whose_images_lie_outside(server, client, folders, training_data):
    root, outside = folders
    image, labels = training_data
    tifffile.imwrite(outside / "train.tif", image)
    import pixelserve

    pixelserve.train(str(outside / "train.tif"), labels, str(root / "stored.ilp"), trees=4, seed=0)
    message = refused(lambda: client.train("retrained.ilp", project="stored.ilp"))
    assert "image of lane 0 of stored.ilp" in message and OUTSIDE in message
    assert not (root / "retrained.ilp").exists()
