"""Every example of docs/server.md runs against a real server started for it, with the
documented address 127.0.0.1:50051 replaced by the test server's."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from conftest import DOCS, doc_blocks, shell_env
from pixelserve.synthetic import cells_image, scribbles

DOC = DOCS / "server.md"
DOC_ADDRESS = "127.0.0.1:50051"
BIN = Path(sys.executable).parent


def blocks(language: str) -> list[str]:
    return doc_blocks("server.md", language)


def dedented(block: str) -> str:
    """A block from inside a list item, without the item's indentation."""
    lines = block.splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port_file(path: Path, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    return int(path.read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory, project_2d) -> Path:
    folder = tmp_path_factory.mktemp("server_docs")
    shutil.copy(project_2d, folder / "MyProject.ilp")
    (folder / "images").mkdir()
    image, truth = cells_image((256, 256), seed=11)
    tifffile.imwrite(folder / "images" / "cells_1.tif", image)
    tifffile.imwrite(folder / "images" / "cells_1_labels.tif", scribbles(truth, seed=11))
    with h5py.File(folder / "volume.h5", "w") as file:
        file["raw/cells"] = image
        file["raw/other"] = image[:64, :64]
    return folder


@pytest.fixture(scope="module")
def address(folder):
    port_file = folder / "port"
    process = subprocess.Popen([BIN / "pixelserve", "serve", "--port", "0", "--port-file", port_file,
                                "--allowed-root", folder], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield f"127.0.0.1:{wait_for_port_file(port_file, process)}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def test_the_start_example_starts_and_stops(folder, tmp_path):
    [start] = [b for b in blocks("bash") if "pixelserve serve" in b]
    roots = [tmp_path / "projects", tmp_path / "images"]
    for root in roots:
        root.mkdir()
    port = free_port()
    command = (start.strip().replace("/data/projects", str(roots[0])).replace("/data/images", str(roots[1]))
               .replace("50051", str(port)))
    process = subprocess.Popen(["bash", "-c", f"exec {command}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=shell_env())
    try:
        line = process.stdout.readline()
        assert f"listening on 127.0.0.1:{port}" in line and str(roots[1]) in line
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    assert process.returncode == 0


def test_the_token_example_writes_a_usable_token(folder):
    [token_block] = [b for b in blocks("bash") if "token_urlsafe" in b]
    subprocess.run(["bash", "-c", dedented(token_block)], cwd=folder, check=True)
    assert len((folder / "token.txt").read_text().strip()) >= 32


def test_the_headless_example_runs_on_the_server(folder, address):
    [block] = [b for b in blocks("bash") if "--headless --server" in b]
    result = subprocess.run(["bash", "-c", block.replace(DOC_ADDRESS, address)], cwd=folder, capture_output=True,
                            text=True, timeout=120, env=shell_env())
    assert result.returncode == 0, result.stderr
    segmentation = tifffile.imread(folder / "results" / "cells_1_segmentation.tif")
    assert segmentation.shape == (256, 256) and set(np.unique(segmentation)) <= {1, 2}


def test_python_examples_run_in_order(folder, address, monkeypatch):
    monkeypatch.chdir(folder)
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks("python"):
            exec(compile(block.replace(DOC_ADDRESS, address), str(DOC), "exec"), namespace)
    output = printed.getvalue()
    assert "Pixel Classification ['background', 'cell']" in output
    assert "(256, 256, 2) yxc ['background', 'cell'] (0.0, 1.0)" in output
    assert namespace["segmentation"].array.shape == (128, 256)
    assert namespace["on_server"].array.shape == (128, 128, 2)
    assert "StatusCode.CANCELLED" in output
    assert (folder / "results" / "probabilities.h5").exists()
    assert "Pixel Classification ['background', 'cell']" in output and (folder / "projects" / "new.ilp").exists()


def test_grpcurl_examples_run(folder, address):
    grpcurl = shutil.which("grpcurl", path=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    if grpcurl is None:
        pytest.skip("grpcurl is not installed: run scripts/install_grpcurl.sh")
    [block] = [b for b in blocks("bash") if "grpcurl" in b]
    outputs = []
    for command in block.strip().splitlines():
        result = subprocess.run(["bash", "-c", command.replace(DOC_ADDRESS, address)], cwd=folder,
                                capture_output=True, text=True, timeout=60,
                                env=shell_env())
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "pixelserve.v1.PredictionService" in outputs[0]
    assert json.loads(outputs[1])["status"] == "SERVING"
    assert json.loads(outputs[2])["workflow"] == "Pixel Classification"
    assert {d["internal_path"] for d in json.loads(outputs[3])["datasets"]} == {"raw/cells", "raw/other"}
    batch = [json.loads(message) for message in re.findall(r"^\{.*?^\}", outputs[4], flags=re.S | re.M)]
    [outcome] = [message["file"] for message in batch if "file" in message]
    assert outcome["written"] == [str(folder / "images" / "results" / "cells_1_Probabilities.tif")]
    assert batch[-1]["summary"]["written"] == 1 and "failed" not in batch[-1]["summary"]
