"""Distributed runs under a real mpiexec: the outputs equal a single process's bit for bit,
whatever the ranks and blocks; failures name the rank and block, a killed run stays
unfinished and --resume completes it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import z5py
import zarr

import cc_workflow
from conftest import doc_blocks, fixtures_dir, run_shell
from pixelserve import train
from pixelserve.errors import UserError
from pixelserve.export.shared_export import tiles_for_threads
from pixelserve.headless.cli import main
from pixelserve.headless.distributed import parse_block_roi
from pixelserve.synthetic import blobs_image, cells_image, dot_labels, scribbles

BIN = Path(sys.executable).parent
MPIEXEC = shutil.which("mpiexec", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def _mpi_missing() -> str | None:
    if MPIEXEC is None:
        return "no mpiexec (install the test extra: pip install -e '.[test]', which brings the mpich wheel)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install -e '.[test]')"
    return None


needs_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))


def mpiexec(ranks: int, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [MPIEXEC, "-n", str(ranks), BIN / "pixelserve", "--headless", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def single(*args) -> None:
    """The same run in one process (this one), the reference."""
    assert main(["--headless", *map(str, args)]) == 0


def read_n5(path: Path) -> np.ndarray:
    return z5py.File(str(path), "r")["exported_data"][:]


def read_zarr(path: Path) -> np.ndarray:
    return zarr.open_group(str(path), mode="r")["exported_data"][:]


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> Path:
    """40 x 70 x 90: no block size used below divides it."""
    folder = tmp_path_factory.mktemp("distributed")
    image, _ = cells_image((40, 70, 90), seed=7)
    with h5py.File(folder / "volume.h5", "w") as file:
        file["raw"] = image
    return folder / "volume.h5"


@pytest.fixture(scope="module")
def autocontext(tmp_path_factory) -> tuple[Path, Path]:
    """(project, input): ilastik's own 3D autocontext project when the fixtures are here, else
    a small one trained by pixelserve."""
    folder = tmp_path_factory.mktemp("autocontext")
    archive = fixtures_dir() / "api_projects.zip"
    if archive.exists():
        with zipfile.ZipFile(archive) as opened:
            opened.extract("Autocontext_3D.ilp", folder)
            opened.extract("Data_3D.npy", folder)
        return folder / "Autocontext_3D.ilp", folder / "Data_3D.npy"
    image, truth = cells_image((32, 48, 48), seed=4)
    np.save(folder / "cells.npy", image)
    train(folder / "cells.npy", scribbles(truth, seed=4), folder / "autocontext.ilp", workflow="autocontext",
          features="gaussian:0.7,1.6 hessian:1.6", trees=5, seed=0, axes="zyx", progress=False)
    return folder / "autocontext.ilp", folder / "cells.npy"


# --- identical to a single process -------------------------------------------------------------

@needs_mpi
@pytest.mark.parametrize("ranks, output_format, block, reader", [
    (2, "n5", "32", read_n5),
    (3, "zarr", '{"x": 50, "y": 30, "z": 16}', read_zarr),
])
def test_pixel_classification_equals_a_single_process(project_3d, volume, tmp_path, ranks, output_format, block,
                                                       reader):
    common = [f"--project={project_3d}", f"--output_format={output_format}", f"{volume}/raw"]
    single(*common, f"--output_filename_format={tmp_path}/single")
    run = mpiexec(ranks, *common, f"--output_filename_format={tmp_path}/spread", "--distributed",
                  "--distributed-block-roi", block)
    assert run.returncode == 0, run.stderr
    extension = output_format
    expected, written = reader(tmp_path / f"single.{extension}"), reader(tmp_path / f"spread.{extension}")
    assert written.dtype == expected.dtype == np.float32 and written.shape == (40, 70, 90, 2)
    np.testing.assert_array_equal(written, expected)
    # rank 0's log: the blocks and what handing them out cost
    blocks = {"32": 2 * 3 * 3, '{"x": 50, "y": 30, "z": 16}': 3 * 3 * 2}[block]
    assert re.search(rf"blocks {blocks}/{blocks} done: {blocks} computed in [\d.]+ s on {ranks} ranks; handing them "
                     r"out took rank 0 [\d.]+ s of CPU \([\d.]+ % of the run\)", run.stderr), run.stderr
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")], "temporary output left behind"


@needs_mpi
def test_threads_of_a_rank_share_its_2d_blocks(project_2d, tmp_path):
    """A 256 x 256 block is smaller than pixel classification's 2D compute block: it is cut
    into tiles so that every thread of a rank gets one, and the output stays the same."""
    assert tiles_for_threads("yxc", (1024, 1024, 2), ((0, 0, 0), (256, 256, 2)), 2) == (128, 256, 2)
    assert tiles_for_threads("yxc", (1024, 1024, 2), ((0, 0, 0), (100, 256, 2)), 1) == (100, 256, 2)
    np.save(tmp_path / "cells.npy", cells_image((300, 260), seed=8)[0])
    common = [f"--project={project_2d}", "--output_format=zarr", tmp_path / "cells.npy"]
    single(*common, f"--output_filename_format={tmp_path}/single")
    run = mpiexec(2, *common, "--threads=2", f"--output_filename_format={tmp_path}/spread", "--distributed")
    assert run.returncode == 0 and "with 2 threads each" in run.stderr, run.stderr
    np.testing.assert_array_equal(read_zarr(tmp_path / "spread.zarr"), read_zarr(tmp_path / "single.zarr"))


@needs_mpi
@pytest.mark.parametrize("ranks, output_format, reader", [(3, "n5", read_n5), (2, "zarr", read_zarr)])
def test_autocontext_equals_a_single_process(autocontext, tmp_path, ranks, output_format, reader):
    project, image = autocontext
    common = [f"--project={project}", f"--output_format={output_format}", "--export_source=Probabilities Stage 2",
              image]
    single(*common, f"--output_filename_format={tmp_path}/single")
    run = mpiexec(ranks, *common, f"--output_filename_format={tmp_path}/spread", "--distributed",
                  '--distributed_block_roi={"x": 40, "y": 24, "z": None}')
    assert run.returncode == 0, run.stderr
    expected = reader(tmp_path / f"single.{output_format}")
    written = reader(tmp_path / f"spread.{output_format}")
    np.testing.assert_array_equal(written, expected)


@needs_mpi
def test_a_time_series_is_spread_one_time_point_per_block(project_3d, tmp_path):
    series = np.stack([cells_image((16, 40, 50), seed=30 + t)[0] for t in range(3)])
    np.save(tmp_path / "series.npy", series)
    common = [f"--project={project_3d}", "--output_format=n5", "--input_axes=tzyx", tmp_path / "series.npy"]
    single(*common, f"--output_filename_format={tmp_path}/single")
    run = mpiexec(2, *common, f"--output_filename_format={tmp_path}/spread", "--distributed",
                  "--distributed_block_roi=32")
    assert run.returncode == 0, run.stderr
    written = read_n5(tmp_path / "spread.n5")
    assert written.shape == (3, 16, 40, 50, 2)
    np.testing.assert_array_equal(written, read_n5(tmp_path / "single.n5"))
    attributes = json.loads((tmp_path / "spread.n5" / "exported_data" / "attributes.json").read_text())
    assert attributes["blockSize"] == [2, 32, 32, 16, 1]  # x, y, z, t: ilastik's one time point per block


@needs_mpi
def test_multiscale_ome_zarr_is_the_single_process_file(project_3d, tmp_path):
    """OME-Zarr keeps its own ~1 MB chunks (blocks are widened to whole ones), so the files,
    the pyramid too, are those of a single process, byte for byte."""
    np.save(tmp_path / "wide.npy", cells_image((40, 96, 120), seed=12)[0])  # 2 x 2 chunks of float32
    common = [f"--project={project_3d}", "--output_format=multi-scale OME-Zarr", tmp_path / "wide.npy"]
    single(*common, f"--output_filename_format={tmp_path}/single")
    run = mpiexec(2, *common, f"--output_filename_format={tmp_path}/spread", "--distributed",
                  "--distributed_block_roi=20")
    assert run.returncode == 0, run.stderr
    files = sorted(str(p.relative_to(tmp_path / "single.zarr")) for p in (tmp_path / "single.zarr").rglob("*"))
    assert "s1/.zarray" in files
    for name in files:
        expected, written = tmp_path / "single.zarr" / name, tmp_path / "spread.zarr" / name
        assert written.is_dir() if expected.is_dir() else written.read_bytes() == expected.read_bytes(), name


# --- failures ----------------------------------------------------------------------------------

@needs_mpi
def test_a_failing_rank_stops_the_run_naming_rank_and_block(project_3d, volume, tmp_path):
    # the input as N5 with one chunk damaged: whichever rank reads it fails
    image = h5py.File(volume, "r")["raw"][:]
    z5py.File(str(tmp_path / "input.n5"), "w").create_dataset("raw", data=image, chunks=(16, 32, 32),
                                                               compression="raw")
    (tmp_path / "input.n5" / "raw" / "2" / "1" / "2").write_bytes(b"damaged")
    run = mpiexec(3, f"--project={project_3d}", "--output_format=n5", f"--output_filename_format={tmp_path}/out",
                  "--distributed", "--distributed_block_roi=16", f"{tmp_path}/input.n5/raw")
    assert run.returncode == 2, run.stderr
    assert re.search(r"pixelserve: error: rank [012] failed on block \d+ of 90 \(z \d+-\d+, y \d+-\d+, x \d+-\d+, "
                     r"c 0-2\): N5 block .*input.n5/raw/2/1/2 .*rerun the same command with --resume", run.stderr)
    assert not (tmp_path / "out.n5").exists() and (tmp_path / ".out.n5.distributed.part").is_dir()


def _pid_of_rank(marker: str, rank: int) -> int | None:
    """The process of `rank` in the job whose environment holds `marker` (Linux's /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environment = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in environment and f"PMI_RANK={rank}".encode() in environment:
            return int(entry)
    return None


@needs_mpi
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's process through /proc")
def test_a_killed_rank_leaves_the_output_unfinished_and_resume_completes_it(project_3d, tmp_path):
    image, _ = cells_image((48, 96, 96), seed=11)
    np.save(tmp_path / "big.npy", image)
    common = [f"--project={project_3d}", "--output_format=n5", f"--output_filename_format={tmp_path}/out",
              "--distributed", "--distributed_block_roi=16", tmp_path / "big.npy"]
    marker = f"PIXELSERVE_TEST_RUN={uuid.uuid4().hex}"
    name, value = marker.split("=")
    done_log = tmp_path / ".out.n5.distributed.part" / ".pixelserve-done-blocks"
    job = subprocess.Popen([MPIEXEC, "-n", "2", BIN / "pixelserve", "--headless", *map(str, common)],
                           env=dict(os.environ, **{name: value}), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        deadline = time.monotonic() + 120
        while not (done_log.exists() and done_log.read_text().count("\n") >= 3) and time.monotonic() < deadline:
            assert job.poll() is None, job.communicate()
            time.sleep(0.02)
        os.kill(_pid_of_rank(marker, 1), signal.SIGKILL)
        _, stderr = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode != 0, stderr
    assert not (tmp_path / "out.n5").exists()
    finished = done_log.read_text().count("\n")
    assert 3 <= finished < 3 * 6 * 6

    rerun = mpiexec(3, *common)
    assert rerun.returncode == 2 and "add --resume to complete it" in rerun.stderr, rerun.stderr
    resumed = mpiexec(3, *common, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert re.search(r"resuming .*out.n5: \d+ of 108 blocks were written before", resumed.stderr), resumed.stderr
    assert not (tmp_path / ".out.n5.distributed.part").exists()
    single(f"--project={project_3d}", "--output_format=n5", f"--output_filename_format={tmp_path}/single",
           tmp_path / "big.npy")
    np.testing.assert_array_equal(read_n5(tmp_path / "out.n5"), read_n5(tmp_path / "single.n5"))


@needs_mpi
def test_sigterm_stops_every_rank_and_leaves_the_output_to_resume(project_3d, tmp_path):
    """scancel and a job's time limit send SIGTERM, which mpiexec passes to every rank."""
    np.save(tmp_path / "big.npy", cells_image((48, 96, 96), seed=12)[0])
    done_log = tmp_path / ".out.n5.distributed.part" / ".pixelserve-done-blocks"
    job = subprocess.Popen([MPIEXEC, "-n", "2", BIN / "pixelserve", "--headless", f"--project={project_3d}",
                            "--output_format=n5", f"--output_filename_format={tmp_path}/out", "--distributed",
                            "--distributed_block_roi=16", tmp_path / "big.npy"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (done_log.exists() and done_log.read_text().count("\n") >= 2) and time.monotonic() < deadline:
            assert job.poll() is None, job.communicate()
            time.sleep(0.02)
        stopped = time.monotonic()
        job.send_signal(signal.SIGTERM)
        _, stderr = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode != 0 and time.monotonic() - stopped < 20, stderr
    assert "stopped by SIGTERM" in stderr and "--resume to complete it" in stderr, stderr
    assert not (tmp_path / "out.n5").exists() and done_log.exists()


@needs_mpi
def test_lane_wide_workflows_are_refused_with_the_reason(tmp_path_factory, tmp_path):
    folder = tmp_path_factory.mktemp("site")
    cc_workflow.write_project(tmp_path / "cc.ilp")
    np.save(tmp_path / "blobs.npy", np.zeros((30, 40), np.float32))
    run = mpiexec(2, f"--project={tmp_path / 'cc.ilp'}", "--distributed", tmp_path / "blobs.npy",
                  env=cc_workflow.plugin_environment(folder))
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("pixelserve: error:")]
    assert len(lines) == 1, run.stderr  # rank 0 alone reports it
    assert "Connected Components computes this result over the whole image" in lines[0]
    assert "cut them at the block edges. Fix: run without --distributed" in lines[0]


@needs_mpi
def test_counting_densities_equal_a_single_process(tmp_path):
    """Counting's density is block-local in a distributed run (no count table); ranks that
    train the regressors themselves need --seed to train the same ones."""
    image, centres = blobs_image((150, 170), n_blobs=12, seed=5)
    np.save(tmp_path / "train.npy", image)
    train(tmp_path / "train.npy", dot_labels(centres, image.shape, background=300, seed=5), tmp_path / "count.ilp",
          workflow="counting", features="gaussian:1.6 hessian:1.6", seed=0, axes="yx", progress=False)
    np.save(tmp_path / "new.npy", blobs_image((150, 170), n_blobs=12, seed=6)[0])
    common = [f"--project={tmp_path / 'count.ilp'}", "--output_format=n5", "--seed=3", tmp_path / "new.npy"]
    single(*common, f"--output_filename_format={tmp_path}/single")
    run = mpiexec(2, *common, f"--output_filename_format={tmp_path}/spread", "--distributed",
                  "--distributed-block-roi", "64")
    assert run.returncode == 0, run.stderr
    expected = read_n5(tmp_path / "single.n5")
    assert expected.sum() > 1
    np.testing.assert_array_equal(read_n5(tmp_path / "spread.n5"), expected)
    shutil.copy(tmp_path / "count.ilp", tmp_path / "unstored.ilp")
    with h5py.File(tmp_path / "unstored.ilp", "a") as file:
        del file["Counting/PixelserveRegressors"]   # trained on first use, as in ilastik's projects
    unseeded = mpiexec(2, f"--project={tmp_path / 'unstored.ilp'}", "--output_format=n5", tmp_path / "new.npy",
                       f"--output_filename_format={tmp_path}/unseeded", "--distributed")
    assert unseeded.returncode == 2 and "Fix: give --seed" in unseeded.stderr, unseeded.stderr
    counted = mpiexec(2, *common, f"--csv-export-file={tmp_path}/counts.csv", f"--output_filename_format={tmp_path}/c",
                      "--distributed")
    assert counted.returncode == 2 and "leave out the table's file option" in counted.stderr, counted.stderr
    shutil.copy(tmp_path / "count.ilp", tmp_path / "named.ilp")
    with h5py.File(tmp_path / "named.ilp", "a") as file:   # as ilastik's GUI stores its CSV export
        if "Density Export/CsvFilepath" in file:
            del file["Density Export/CsvFilepath"]
        file["Density Export/CsvFilepath"] = str(tmp_path / "counts.csv").encode()
    named = mpiexec(2, f"--project={tmp_path / 'named.ilp'}", *common[1:], f"--output_filename_format={tmp_path}/n",
                    "--distributed")
    assert named.returncode == 0 and not (tmp_path / "counts.csv").exists(), named.stderr
    np.testing.assert_array_equal(read_n5(tmp_path / "n.n5"), expected)


def test_without_mpi_one_sentence_says_what_to_install(project_3d, volume, tmp_path):
    script = ("import sys; sys.modules['mpi4py'] = None\n"  # as if mpi4py were not installed
              "from pixelserve.headless.cli import main\n"
              "sys.exit(main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", script, "--headless", f"--project={project_3d}", "--distributed",
                          f"--output_filename_format={tmp_path}/out", f"{volume}/raw"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install pixelserve[mpi]" in lines[0] and "mpiexec -n N" in lines[0], run.stderr


# --- the block flag ----------------------------------------------------------------------------

def test_block_roi_takes_ilastiks_forms():
    assert parse_block_roi(None) == {"x": 256, "y": 256, "z": 256, "t": 1, "c": None}
    assert parse_block_roi("100") == {"x": 100, "y": 100, "z": 100, "t": 1, "c": None}
    assert parse_block_roi("{'x': 512, 'y': 512, 'z': None}") == {"x": 512, "y": 512, "z": None, "t": 1, "c": None}
    assert parse_block_roi('{"z": 16, "c": null, "t": 2}') == {"x": 256, "y": 256, "z": 16, "t": 2, "c": None}
    for bad, says in [("{'q': 5}", "use only the axis keys"), ("{'x': 0}", "positive whole number"),
                      ("{'x': 2.5}", "positive whole number"), ("[1, 2]", "neither a number nor a dict"),
                      ("big", "neither a number nor a dict")]:
        with pytest.raises(UserError, match=says):
            parse_block_roi(bad)


def test_resume_and_block_roi_need_distributed(project_3d, volume, tmp_path, capsys):
    assert main(["--headless", f"--project={project_3d}", "--resume", f"{volume}/raw"]) == 2
    assert "--resume applies to distributed runs only. Fix: add --distributed" in capsys.readouterr().err


# --- docs/distributed.md -----------------------------------------------------------------------

@needs_mpi
def test_the_documented_commands_run(project_3d, volume, tmp_path):
    shutil.copy(project_3d, tmp_path / "MyProject3D.ilp")
    shutil.copy(volume, tmp_path / "volume.h5")
    single, blocks, resume = doc_blocks("distributed.md", "bash")
    for command in (single, blocks):
        run = run_shell(command, tmp_path)
        assert run.returncode == 0, run.stderr
        assert re.search(r"blocks (\d+)/\1 done", run.stderr), run.stderr
    reference = read_n5(tmp_path / "results" / "volume_Probabilities.n5")
    assert reference.shape == (40, 70, 90, 2)
    # as ilastik lays it out (opFormattedDataExport.run_distributed_export): chunks = the block
    # (256 along x, y, z and every c) clamped to the volume, 'axes' x first
    attributes = json.loads((tmp_path / "results" / "volume_Probabilities.n5" / "exported_data" /
                             "attributes.json").read_text())
    assert attributes["dimensions"] == attributes["blockSize"] == [2, 90, 70, 40]
    assert attributes["axes"] == ["c", "x", "y", "z"] and attributes["dataType"] == "float32"
    np.testing.assert_array_equal(read_zarr(tmp_path / "results" / "volume_blocks.zarr"), reference)
    assert zarr.open_group(str(tmp_path / "results" / "volume_blocks.zarr"), mode="r")["exported_data"].chunks == \
        (32, 64, 64, 2)
    run = run_shell(resume, tmp_path)
    assert run.returncode == 0 and "volume_Probabilities.n5 is complete (written by an earlier run): --resume keeps" \
        in run.stderr, run.stderr

    # the SLURM script's srun line, with mpiexec in srun's place
    script = doc_blocks("distributed.md", "sh")[0]
    srun = re.search(r"^srun (.*?)(?<!\\)$", script, flags=re.M | re.S).group(1)
    assert "$SLURM_CPUS_PER_TASK" in srun
    run = run_shell(f"export SLURM_CPUS_PER_TASK=1; mpiexec -n 2 {srun}", tmp_path)
    assert run.returncode == 0, run.stderr
    np.testing.assert_array_equal(read_n5(tmp_path / "results" / "volume_cluster.n5"), reference)
