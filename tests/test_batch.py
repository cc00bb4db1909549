"""Batch processing: several files at once in worker processes, each failure on its own, and
no partial output whatever stops the run. Every test runs the real command line as a
subprocess (real processes, real signals)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import all_features_batch
from pixelserve.headless.batch_plan import choose_workers
from pixelserve.headless.process_start import fork_context, fork_supported
from pixelserve.headless.progress import BatchProgress
from pixelserve.synthetic import cells_image

PIXELSERVE = str(Path(sys.executable).parent / "pixelserve")
MB = 2**20
needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                reason="finds worker processes through /proc (Linux only)")


def command(project: Path, output: Path, images, *flags) -> list[str]:
    return [PIXELSERVE, "--headless", f"--project={project}", "--output_format=numpy",
            f"--output_filename_format={output}/{{nickname}}", *flags, *map(str, images)]


def run(args: list[str], **env) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def results(folder: Path) -> dict[str, np.ndarray]:
    return {path.name: np.load(path) for path in sorted(folder.glob("*.npy"))}


def part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part")) if folder.exists() else []


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A project with every feature (so that a 1024x1024 image takes a while on one thread)
    and six such images."""
    return all_features_batch(tmp_path_factory.mktemp("batch"), 6, tiles=4, seed=40)


@pytest.fixture(scope="module")
def serial(batch, tmp_path_factory) -> dict[str, np.ndarray]:
    project, images = batch
    output = tmp_path_factory.mktemp("serial")
    done = run(command(project, output, images, "--threads=2", "--parallel_files=1"))
    assert done.returncode == 0, done.stderr
    assert "processing 6 files, 1 at a time (2 threads each)" in done.stderr
    return results(output)


def assert_complete(output: Path, serial: dict[str, np.ndarray]) -> None:
    """Every file under its final name is a whole, correct result."""
    for name, array in results(output).items():
        np.testing.assert_array_equal(array, serial[name], err_msg=name)


def with_fork_server(args: list[str]) -> list[str]:
    """The same command line, with worker processes from the fork server, as on macOS (and
    for a worker replacing one that died), instead of forked from the main process."""
    code = ("import sys; from pixelserve.headless import process_start; "
            "process_start.fork_supported = lambda: False; "
            "from pixelserve.headless.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, *args[1:]]


@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_parallel_batch_equals_serial(batch, serial, tmp_path, start_method):
    if start_method == "fork" and not fork_supported():
        pytest.skip("workers are not forked from the main process on this platform")
    if start_method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {start_method} on this platform")
    project, images = batch
    before = hashlib.sha256(project.read_bytes()).hexdigest(), project.stat().st_mtime_ns
    args = command(project, tmp_path, images, "--threads=2", "--parallel_files=2", "--debug")
    done = run(args if start_method == "fork" else with_fork_server(args))
    assert done.returncode == 0, done.stderr
    # Several processes read the project at once; none writes it.
    assert (hashlib.sha256(project.read_bytes()).hexdigest(), project.stat().st_mtime_ns) == before
    assert "processing 6 files, 2 at a time (1 thread each)" in done.stderr
    assert "Started worker process" in done.stderr and f"({start_method})" in done.stderr
    # Worker processes really did some of the files (this process does the others).
    assert re.search(r"worker process \d+ exported", done.stderr), done.stderr
    assert results(tmp_path).keys() == serial.keys() and len(serial) == 6
    assert_complete(tmp_path, serial)
    assert sorted(line for line in done.stdout.splitlines()) == sorted(
        f"Wrote {tmp_path}/{name}" for name in serial)


@pytest.fixture
def small_images(tmp_path) -> list[Path]:
    paths = []
    for index in range(3):
        image, _ = cells_image((96, 112), seed=60 + index)
        paths.append(tmp_path / f"small_{index}.tif")
        tifffile.imwrite(paths[-1], image)
    return paths


def test_fork_only_while_no_other_thread_runs():
    if not fork_supported():
        pytest.skip("workers are not forked from the main process on this platform")
    if threading.active_count() > 1:
        pytest.skip("this test process runs other threads")
    assert fork_context() is not None
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert fork_context() is None
    finally:
        release.set()
        thread.join()
    assert fork_context() is not None


@pytest.mark.skipif(not fork_supported(), reason="workers are not forked here on this platform")
def test_zarr_inputs_still_fork_workers(project_2d, small_images, tmp_path):
    """Reading zarr (or N5, or compressed TIFF) starts zarr's I/O threads in this process;
    they are stopped before forking, and the results are those of a serial run."""
    zarr = pytest.importorskip("zarr")
    inputs = []
    for path in small_images:
        image = tifffile.imread(path)
        inputs.append(tmp_path / f"{path.stem}.zarr")
        zarr.open_array(str(inputs[-1]), mode="w", shape=image.shape, dtype=image.dtype,
                        chunks=(32, 32))[:] = image
    done = run(command(project_2d, tmp_path / "parallel", inputs, "--threads=2", "--debug"))
    assert done.returncode == 0, done.stderr
    assert re.search(r"Started worker process \d+ with 1 thread\(s\) \(fork\)", done.stderr), done.stderr
    serial = run(command(project_2d, tmp_path / "serial", inputs, "--parallel_files=1"))
    assert serial.returncode == 0, serial.stderr
    expected = results(tmp_path / "serial")
    assert len(expected) == 3 and results(tmp_path / "parallel").keys() == expected.keys()
    assert_complete(tmp_path / "parallel", expected)


@pytest.mark.parametrize("budget_mb, expected", [
    ("100000", "3 files, 2 at a time (1 thread each)"),
    ("300", "3 files, 1 at a time (2 threads each)"),   # a worker process alone is ~180 MB
])
def test_memory_budget_limits_the_files_at_once(project_2d, small_images, tmp_path,
                                                budget_mb, expected):
    done = run(command(project_2d, tmp_path / "out", small_images, "--threads=2"),
               LAZYFLOW_TOTAL_RAM_MB=budget_mb)
    assert done.returncode == 0, done.stderr
    assert f"pixelserve: processing {expected}" in done.stderr
    assert len(results(tmp_path / "out")) == 3


@pytest.mark.parametrize("flag, env, expected", [
    ("--parallel_files=-1", {}, "--parallel_files=-1 is negative"),
    ("--parallel_files=0", {"LAZYFLOW_TOTAL_RAM_MB": "lots"}, "LAZYFLOW_TOTAL_RAM_MB='lots'"),
])
def test_bad_settings_give_one_line(project_2d, small_images, tmp_path, flag, env, expected):
    done = run(command(project_2d, tmp_path / "out", small_images, "--threads=2", flag), **env)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(f"pixelserve: error: {expected}"), done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_worker_count_rule():
    def plan(files, threads, budget_mb=None, requested=0):
        chosen = choose_workers(files, threads, requested=requested,
                                budget=None if budget_mb is None else budget_mb * MB,
                                process_bytes=200 * MB, bytes_per_thread=100 * MB)
        return chosen.workers, chosen.threads_per_worker

    assert plan(6, 4, budget_mb=10_000) == (4, 1)        # one per thread
    assert plan(2, 4, budget_mb=10_000) == (2, 2)        # no more than files; threads shared
    assert plan(6, 4, budget_mb=1000) == (3, 1)          # 3 x (200 + 100) fits, 4 x 300 does not
    assert plan(6, 4, budget_mb=800) == (2, 2)           # 2 x (200 + 2 x 100)
    assert plan(6, 4, budget_mb=799) == (1, 4)           # too little for 2: this process, all threads
    assert plan(6, 1, budget_mb=10_000) == (1, 1)        # one core: no pool
    assert plan(1, 8, budget_mb=10_000) == (1, 8)        # one file: no pool
    assert plan(6, 2, budget_mb=500, requested=3) == (3, 1)   # --parallel_files wins
    assert plan(6, 8, requested=3) == (3, 2)
    assert plan(6, 4) == (4, 1)                          # memory unknown


def test_progress_bar_counts_files_and_pixels(capsys):
    with BatchProgress([100, 300, 0], enabled=True) as progress:
        progress.lane(1, 150, 300)
        assert progress.bar.n == 150
        progress.lane(1, 2, 4)               # any unit: the ratio counts
        progress.lane_finished(2)            # failed before it began: no pixels
        progress.lane_finished(0)
        assert progress.bar.n == 250 and progress.files_done == 2
        progress.print("Wrote x")
    captured = capsys.readouterr()
    assert "files 2/3" in captured.err and "px" in captured.err
    assert captured.out == "Wrote x\n"


def test_a_bad_file_fails_alone_and_the_summary_says_why(project_2d, small_images, tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"this is not an image" * 50)
    inputs = small_images[:2] + [bad] + small_images[2:]
    done = run(command(project_2d, tmp_path / "out", inputs, "--threads=2", "--parallel_files=2"))
    assert done.returncode == 2, done.stderr
    assert sorted(results(tmp_path / "out")) == [f"small_{i}.npy" for i in range(3)]
    summary = done.stderr[done.stderr.index("pixelserve: 1 of 4 files failed:"):].splitlines()
    assert summary[1].startswith(f"  {bad}: Cannot read ") and "TIFF" in summary[1], summary
    assert len(summary) == 2 and "Traceback" not in done.stderr
    assert not part_files(tmp_path / "out")


def test_a_file_failing_midway_fails_alone(project_2d, small_images, tmp_path):
    """A truncated TIFF opens fine (its header is whole) and fails while being computed."""
    truncated = tmp_path / "truncated.tif"
    image, _ = cells_image((200, 200), seed=70)
    tifffile.imwrite(truncated, image)
    truncated.write_bytes(truncated.read_bytes()[:20000])
    done = run(command(project_2d, tmp_path / "out", [truncated, *small_images], "--threads=2",
                       "--parallel_files=2"))
    assert done.returncode == 2, done.stderr  # a damaged file is the user's to fix
    assert len(results(tmp_path / "out")) == 3
    assert re.search(rf"1 of 4 files failed:\n  {re.escape(str(truncated))}: Could not read the pixels", done.stderr), done.stderr
    assert "damaged or incomplete" in done.stderr
    assert not part_files(tmp_path / "out")


def start(args: list[str]) -> subprocess.Popen:
    # A session of its own: a process group to signal as a terminal's Ctrl-C would.
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {process.communicate()}")
        time.sleep(0.01)
    process.kill()
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig, target, flags, exit_code", [
    (signal.SIGTERM, "main process", ["--parallel_files=2"], 143),
    (signal.SIGINT, "process group", ["--parallel_files=2"], 130),   # Ctrl-C in a terminal
    (signal.SIGINT, "main process", ["--parallel_files=2"], 130),
    (signal.SIGTERM, "main process", ["--parallel_files=1"], 143),   # in-process, no workers
])
def test_interrupted_run_leaves_no_partial_output(batch, serial, tmp_path, sig, target, flags,
                                                 exit_code):
    project, images = batch
    output = tmp_path / "out"
    process = start(command(project, output, images, "--threads=2", *flags))
    if "--parallel_files=2" in flags and Path("/proc/self/status").exists():
        # Signal once a worker process is writing too, not while it is still starting.
        wait_for(lambda: worker_writing(process.pid, output), "a worker process began a file",
                 process)
    else:
        wait_for(lambda: part_files(output), "an output was begun", process)
    if target == "process group":
        os.killpg(process.pid, sig)
    else:
        os.kill(process.pid, sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr
    assert "interrupted; no partial output was kept" in stderr and "Traceback" not in stderr
    assert not part_files(output)
    assert_complete(output, serial)
    assert len(results(output)) < len(images)


def test_killed_process_group_never_leaves_a_partial_final_file(batch, serial, tmp_path):
    """SIGKILL cannot be caught: temporary files may stay, but a file appears under its final
    name only by an atomic rename once complete."""
    project, images = batch
    output = tmp_path / "out"
    process = start(command(project, output, images, "--threads=2", "--parallel_files=2"))
    wait_for(lambda: len(results(output)) >= 1 and part_files(output), "a file was written "
             "and another begun", process)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert 1 <= len(results(output)) < len(images)
    assert_complete(output, serial)


def descendants(pid: int) -> list[int]:
    try:
        children = map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return []
    return [found for child in children for found in [child, *descendants(child)]]


def worker_writing(pid: int, folder: Path) -> tuple[int, Path] | None:
    """(pid, temporary file) of a worker process of the run `pid` (forked by `pid`, or by a
    fork server, itself a child of `pid`) with a temporary file open in `folder`."""
    for worker in descendants(pid):
        try:
            for fd in Path(f"/proc/{worker}/fd").iterdir():
                target = Path(os.readlink(fd))
                if target.parent == folder and target.name.endswith(".part"):
                    return worker, target
        except OSError:
            continue
    return None


@needs_proc
def test_a_killed_worker_fails_only_its_file(batch, serial, tmp_path):
    """E.g. the kernel's out-of-memory killer: that file fails, the others are written, and
    its temporary file is deleted by the main process."""
    project, images = batch
    output = tmp_path / "out"
    process = start(command(project, output, images, "--threads=2", "--parallel_files=2"))
    worker, temporary = wait_for(lambda: worker_writing(process.pid, output),
                                 "a worker process began a file", process)
    os.kill(worker, signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    name = temporary.name[1:].rsplit(".", 2)[0]   # .NAME.TAG.part
    failed = next(image for image in images if image.stem == Path(name).stem)
    assert f"1 of 6 files failed:\n  {failed}: internal error: the worker process died " \
           "(killed by SIGKILL)" in stderr
    assert sorted(results(output)) == sorted(set(serial) - {name})
    assert_complete(output, serial)
    assert not part_files(output)
