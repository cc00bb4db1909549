"""`pixelserve serve` as a process (issue 16): its memory, measured from /proc, while clients
announce, send, cancel or die; and SIGTERM while it trains."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

from pixelserve import protocol
from pixelserve.client import Client, ServerError
from pixelserve.synthetic import cells_image, scribbles

MiB = 1 << 20
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures memory through /proc (Linux)")


def start_server(root: Path, *flags) -> tuple[subprocess.Popen, int]:
    port_file = root / f"port.{time.monotonic_ns()}"
    process = subprocess.Popen([sys.executable, "-m", "pixelserve.headless.cli", "serve", "--port-file", str(port_file),
                                "--allowed-root", str(root), *flags],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not port_file.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    return process, int(port_file.read_text())


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def settled_rss(pid: int, below: int, timeout: float = 5.0) -> tuple[int, float]:
    """(RSS once it is below `below`, or after `timeout`; the seconds that took)."""
    began = time.monotonic()
    while rss(pid) >= below and time.monotonic() - began < timeout:
        time.sleep(0.05)
    return rss(pid), time.monotonic() - began


def predict_header(shape, project="cells.ilp"):
    message = protocol.prediction.PredictHeader(project=project)
    message.inputs.add(array=protocol.arrays.ArrayHeader(dtype=protocol.arrays.DTYPE_UINT8, shape=list(shape), axes="yx"))
    return protocol.prediction.PredictRequest(header=message)


class Upload:
    """A Predict call that announces `shape` (uint8), sends `send` bytes of it, then waits
    until released (`stop()`: ends the request stream; `cancel()`: cancels the call)."""

    def __init__(self, port: int, shape, send: int):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.sent = threading.Event()
        self.release = threading.Event()
        chunk = protocol.prediction.PredictRequest(chunk=protocol.arrays.Chunk(data=bytes(4 * MiB)))

        def requests():
            yield predict_header(shape)
            for _ in range(send // (4 * MiB)):
                yield chunk
            self.sent.set()
            self.release.wait()

        self.call = protocol.prediction_grpc.PredictionServiceStub(self.channel).Predict(requests())
        self.error: grpc.RpcError | None = None
        self.thread = threading.Thread(target=self._read)
        self.thread.start()

    def _read(self):
        try:
            for _ in self.call:
                pass
        except grpc.RpcError as error:
            self.error = error
        finally:
            self.sent.set()

    def cancel(self):
        self.call.cancel()
        self.finish()

    def finish(self):
        self.release.set()
        self.thread.join(30)
        self.channel.close()


@pytest.fixture(scope="module")
def root(tmp_path_factory, project_2d):
    folder = tmp_path_factory.mktemp("limits")
    shutil.copy(project_2d, folder / "cells.ilp")
    return folder


@pytest.fixture(scope="module")
def served(root):
    """A server with a 1 GiB request limit and a 768 MiB in-flight budget, warmed up."""
    process, port = start_server(root, "--max-request-bytes", "1G", "--max-inflight-bytes", "768M")
    with Client(f"127.0.0.1:{port}") as client:
        client.predict("cells.ilp", cells_image((64, 64), seed=1)[0], "yx")  # the project loaded, kernels compiled
    yield process, port
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)


def warmed_up_rss(process, port, shape, send: int) -> int:
    """The server's RSS after one upload like the test's was cancelled: the allocator then
    holds what it keeps for reuse (freed chunk buffers), and the baseline includes it."""
    upload = Upload(port, shape, send=send)
    upload.sent.wait(60)
    upload.cancel()
    time.sleep(1.0)
    return rss(process.pid)


def test_a_header_takes_memory_only_as_its_bytes_arrive_and_the_budget_refuses_more(served):
    process, port = served
    baseline = warmed_up_rss(process, port, (16384, 32768), 96 * MiB)
    announced = Upload(port, (16384, 32768), send=0)  # 512 MiB announced, nothing sent
    announced.sent.wait(10)
    time.sleep(0.5)
    header_only = rss(process.pid) - baseline
    refused = Upload(port, (16384, 32768), send=0)  # 512 MiB more: beyond the 768 MiB budget
    refused.thread.join(10)
    assert refused.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-inflight-bytes" in refused.error.details()
    refused.finish()
    announced.cancel()

    partial = Upload(port, (16384, 32768), send=96 * MiB)  # 96 of 512 MiB sent
    partial.sent.wait(30)
    time.sleep(0.5)
    after_96 = rss(process.pid) - baseline
    partial.cancel()
    back, seconds = settled_rss(process.pid, baseline + 32 * MiB)
    print(f"RSS above baseline: header only {header_only / MiB:.0f} MiB, after 96 of 512 MiB "
          f"{after_96 / MiB:.0f} MiB, {seconds:.2f} s after the cancel {(back - baseline) / MiB:.0f} MiB")
    assert header_only < 32 * MiB
    assert 96 * MiB < after_96 < 256 * MiB  # what arrived (populated a step ahead), not the 512 MiB announced
    assert back < baseline + 64 * MiB
    with Client(f"127.0.0.1:{port}") as client:
        assert client.health() == "SERVING"


def test_cancelled_uploads_and_a_killed_client_give_their_memory_back(served, tmp_path):
    process, port = served
    baseline = warmed_up_rss(process, port, (16384, 16384), 192 * MiB)
    peaks = []
    for _ in range(3):  # three uploads of 256 MiB, each cancelled after 192 MiB
        upload = Upload(port, (16384, 16384), send=192 * MiB)
        upload.sent.wait(60)
        time.sleep(0.2)
        peaks.append(rss(process.pid) - baseline)
        upload.cancel()
    back, seconds = settled_rss(process.pid, baseline + 32 * MiB)
    print(f"RSS above baseline: peaks {[round(p / MiB) for p in peaks]} MiB, {seconds:.2f} s after the last "
          f"cancel {(back - baseline) / MiB:.0f} MiB")
    assert min(peaks) > 150 * MiB and back < baseline + 64 * MiB

    script = tmp_path / "client.py"
    script.write_text(
        "import sys, time, grpc\nfrom pixelserve import protocol\n"
        "header = protocol.prediction.PredictHeader(project='cells.ilp')\n"
        "header.inputs.add(array=protocol.arrays.ArrayHeader(dtype=protocol.arrays.DTYPE_UINT8, shape=[16384, 16384], axes='yx'))\n"
        "def requests():\n"
        "    yield protocol.prediction.PredictRequest(header=header)\n"
        "    for _ in range(48):\n"
        "        yield protocol.prediction.PredictRequest(chunk=protocol.arrays.Chunk(data=bytes(4 << 20)))\n"
        "    print('sent', flush=True)\n"
        "    time.sleep(600)\n"
        "channel = grpc.insecure_channel(sys.argv[1])\n"
        "for _ in protocol.prediction_grpc.PredictionServiceStub(channel).Predict(requests()):\n"
        "    pass\n")
    client = subprocess.Popen([sys.executable, str(script), f"127.0.0.1:{port}"], stdout=subprocess.PIPE, text=True)
    assert client.stdout.readline().strip() == "sent"
    time.sleep(0.3)
    held = rss(process.pid) - baseline
    client.kill()
    client.wait()
    back, seconds = settled_rss(process.pid, baseline + 32 * MiB)
    print(f"killed client: {held / MiB:.0f} MiB held, {seconds:.2f} s later {(back - baseline) / MiB:.0f} MiB")
    assert held > 150 * MiB and back < baseline + 64 * MiB
    with Client(f"127.0.0.1:{port}") as client:
        assert client.health() == "SERVING"


def test_sigterm_while_training_stops_within_the_grace_period_and_leaves_nothing(root):
    process, port = start_server(root)
    image, truth = cells_image((256, 256), seed=12)
    labels = scribbles(truth, seed=12, per_class=200)
    signalled = []
    errors = []

    def on_progress(done, total, phase):
        if "trees" in phase and done > 0 and not signalled:
            signalled.append(time.monotonic())
            process.send_signal(signal.SIGTERM)

    def train():
        with Client(f"127.0.0.1:{port}") as client:
            try:
                client.train("interrupted.ilp", [((image, "yx"), labels)], trees=5000, seed=1, progress=on_progress)
            except ServerError as error:
                errors.append(error)

    thread = threading.Thread(target=train)
    thread.start()
    try:
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    seconds = time.monotonic() - signalled[0]
    thread.join(30)
    print(f"stopped {seconds:.2f} s after SIGTERM (grace 3 s)")
    assert process.returncode == 0 and "stopped" in out, err
    assert seconds < 3 + 2.5
    assert errors and errors[0].code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert not (root / "interrupted.ilp").exists() and not (root / "interrupted_training").exists()
    assert not [path for path in root.iterdir() if ".part" in path.name]
