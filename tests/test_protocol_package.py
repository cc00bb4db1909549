"""The protocol package: committed generated modules that match their .proto files, and a
wheel that serves and predicts without the repository."""

from __future__ import annotations

import filecmp
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import ROOT
from pixelserve.synthetic import cells_image

GENERATED = ROOT / "python" / "pixelserve" / "protocol" / "v1"


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_protocol", ROOT / "scripts" / "generate_protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_protocol_modules_are_current(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) regenerates the protocol")
    _load_generator().generate(tmp_path)
    fresh = tmp_path / "pixelserve" / "protocol" / "v1"
    names = sorted(p.name for p in fresh.iterdir())
    assert names == sorted(p.name for p in GENERATED.iterdir() if p.suffix in (".py", ".pyi") and p.name != "__init__.py")
    stale = [name for name in names if not filecmp.cmp(fresh / name, GENERATED / name, shallow=False)]
    assert not stale, f"{stale} differ from their .proto files: run scripts/generate_protocol.py and commit"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="the 'build' package (test extra) builds the wheel")
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("source") / "pixelserve"
    # Build from a copy of the tracked files only, as from a fresh clone.
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [built] = out.glob("pixelserve-*.whl")
    return built


def test_the_wheel_holds_the_protocol_and_needs_no_grpcio_tools(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for module in ("prediction_pb2.py", "prediction_pb2_grpc.py", "prediction.proto", "arrays_pb2.pyi"):
        assert f"pixelserve/protocol/v1/{module}" in names
    runtime = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert runtime and not any("grpcio-tools" in line for line in runtime)


def test_an_installed_wheel_serves_and_predicts_outside_the_repository(wheel, tmp_path, project_2d):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)
    # The dependencies come from this test run's environment (a path entry, not a site dir, so
    # its editable pixelserve is not picked up): the wheel's own pixelserve is the one imported.
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    # Outside the repository, as a user's shell: no PYTHONPATH leading back into it.
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(project_2d, work / "cells.ilp")
    image, _ = cells_image((96, 96), seed=3)
    np.save(work / "image.npy", image)
    tifffile.imwrite(work / "image.tif", image)
    port_file = work / "port"
    server = subprocess.Popen([venv / "bin" / "pixelserve", "serve", "--port", "0", "--port-file", port_file,
                               "--allowed-root", work], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=clean)
    try:
        for _ in range(600):
            if port_file.exists() and port_file.read_text().strip():
                break
            assert server.poll() is None, server.stderr.read()
            subprocess.run(["sleep", "0.1"])
        script = textwrap.dedent(f"""
            import numpy as np, pixelserve
            from pixelserve.client import Client
            assert "/venv/" in pixelserve.__file__, pixelserve.__file__
            with Client("127.0.0.1:{port_file.read_text().strip()}") as client:
                result = client.predict("{work / 'cells.ilp'}", np.load("image.npy"), axes="yx")
            np.save("remote.npy", result.array)
            print(result.axes, result.array.shape)
        """)
        answer = subprocess.run([python, "-c", script], cwd=work, capture_output=True, text=True, timeout=300, env=clean)
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.split() == ["yxc", "(96,", "96,", "2)"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    local = subprocess.run([venv / "bin" / "pixelserve", "--headless", f"--project={work / 'cells.ilp'}",
                            "--output_format=numpy", f"--output_filename_format={work / 'local'}", str(work / "image.tif")],
                           cwd=work, capture_output=True, text=True, timeout=300, env=clean)
    assert local.returncode == 0, local.stderr
    np.testing.assert_array_equal(np.load(work / "remote.npy"), np.load(work / "local.npy"))
