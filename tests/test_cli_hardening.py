"""The command line against signals and careless input (issue 16): every stop signal gives
its exit code and leaves nothing partial; a damaged PNG, an output below a file and two
inputs with one output name are user errors that say what to do; warnings are one line; a
closed pipe is a quiet exit. The real `pixelserve` command in a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tifffile
from PIL import Image

from conftest import all_features_batch
from pixelserve.synthetic import cells_image

PIXELSERVE = str(Path(sys.executable).parent / "pixelserve")


def run(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([PIXELSERVE, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert lines[0].startswith("pixelserve: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """A project with every feature and two 2048 x 2048 images: seconds of work per file."""
    return all_features_batch(tmp_path_factory.mktemp("slow"), 2, tiles=8, seed=60)


@pytest.mark.parametrize("sig, flags, delay", [
    (signal.SIGTERM, ["--threads=1", "--parallel_files=1"], 0.0),   # numba runs in the main thread
    (signal.SIGTERM, ["--threads=1", "--parallel_files=1"], 0.7),
    (signal.SIGINT, ["--threads=2", "--parallel_files=1"], 0.3),
    (signal.SIGTERM, ["--threads=2", "--parallel_files=2"], 0.3),   # worker processes
])
def test_a_stop_signal_always_gives_its_exit_code_and_leaves_nothing_partial(slow, tmp_path, sig, flags, delay):
    project, images = slow
    output = tmp_path / "out"
    process = subprocess.Popen([PIXELSERVE, "--headless", f"--project={project}", "--output_format=numpy",
                                f"--output_filename_format={output}/{{nickname}}", *flags, *map(str, images)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(output.glob(".*.part")):  # an output has begun: the run is computing
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    time.sleep(delay)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + sig, stderr
    assert "interrupted; no partial output was kept" in stderr
    for trouble in ("Traceback", "internal error", "Exception ignored", "SystemError"):
        assert trouble not in stderr, stderr
    assert not list(output.glob(".*.part"))
    assert len(list(output.glob("*.npy"))) < len(images)


def test_a_truncated_png_is_a_user_error(project_2d, tmp_path):
    Image.fromarray(cells_image((96, 96), seed=2)[0]).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    result = run("--headless", f"--project={project_2d}", f"--output_filename_format={tmp_path}/out",
                 tmp_path / "cut.png")
    assert result.returncode == 2
    line = one_error_line(result)
    assert str(tmp_path / "cut.png") in line and "damaged or incomplete" in line
    assert not list(tmp_path.glob("*out*"))


def test_an_output_below_a_file_is_a_user_error(project_2d, tmp_path):
    tifffile.imwrite(tmp_path / "image.tif", cells_image((96, 96), seed=2)[0])
    (tmp_path / "out.txt").write_text("notes\n")
    result = run("--headless", f"--project={project_2d}", f"--output_filename_format={tmp_path}/out.txt/result.h5",
                 tmp_path / "image.tif")
    assert result.returncode == 2
    line = one_error_line(result)
    assert f"Cannot create the output folder {tmp_path / 'out.txt'}: a file of that name is in the way" in line
    assert (tmp_path / "out.txt").read_text() == "notes\n"


@pytest.mark.parametrize("names, template, placeholder", [
    (("a/same.tif", "b/same.tif"), "results/same", "{dataset_dir}"),
    (("a/same.tif", "b/same.tif"), "results/{nickname}", "{dataset_dir}"),
    (("a/one.tif", "a/two.tif"), "results/fixed", "{nickname}"),
])
def test_two_inputs_with_one_output_name_are_refused_before_computing(project_2d, tmp_path, names, template,
                                                                       placeholder):
    for name in names:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        tifffile.imwrite(tmp_path / name, cells_image((96, 96), seed=2)[0])
    result = run("--headless", f"--project={project_2d}", f"--output_filename_format={template}", *names,
                 cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert f"{names[0]} and {names[1]} would both be written to {tmp_path / 'results'}" in line, line
    assert f"put {placeholder} into --output_filename_format" in line
    assert not (tmp_path / "results").exists() and "Wrote" not in result.stdout


def test_warnings_are_one_line_each(project_2d, tmp_path):
    for index in range(2):
        tifffile.imwrite(tmp_path / f"image_{index}.tif", cells_image((96, 96), seed=index)[0])
    result = run("--headless", f"--project={project_2d}", "--cutout_subregion=[(0,0,0),(300,300,2)]",
                 "--parallel_files=2", "--threads=2", f"--output_filename_format={tmp_path}/out/{{nickname}}",
                 tmp_path / "image_0.tif", tmp_path / "image_1.tif")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "cutout_subregion" in line]
    assert warnings and all(line.startswith("pixelserve: warning: --cutout_subregion [(0, 0, 0), (300, 300, 2)] "
                                            "exceeds the result's shape (96, 96, 2)") for line in warnings), result.stderr
    assert "UserWarning" not in result.stderr and ".py:" not in result.stderr


def test_a_closed_pipe_is_a_quiet_exit():
    result = subprocess.run(["bash", "-c", f"{PIXELSERVE} --help | head -3; echo \"exit ${{PIPESTATUS[0]}}\""],
                            capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("usage: pixelserve") and len(lines) == 4
    assert lines[-1] in ("exit 0", "exit 141") and result.stderr == "", result.stderr
