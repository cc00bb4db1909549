"""Cell Density Counting through every front door: ilastik's CellDensityCounting2d3c.ilp on
its own input through the command line (5 seeds against ilastik's density and count, the same
seed giving the same files, the CSV file as ilastik writes it, a batch that trains once),
regressors stored with `pixelserve train --project` and used without the training image, the
server with its Python client and a headless run computed by it; and training a new project
from dots on generated blobs, counted on a held-out image."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from conftest import fixtures_dir, serving
from pixelserve import open_project
from pixelserve.client import Client, ServerError
from pixelserve.errors import UserError
from pixelserve.headless.cli import main
from pixelserve.project.counting import read_counting_project
from pixelserve.synthetic import blobs_image, dot_labels

BIN = Path(sys.executable).parent
PROJECT = "CellDensityCounting2d3c.ilp"
REFERENCE_COUNT = 29.873638   # the sum of ilastik's density
NICKNAME = "2d3c-data"         # ilastik's nickname of inputdata/2d3c.h5/data


@pytest.fixture(scope="module")
def folder(test_projects, tmp_path_factory) -> Path:
    """The project with its training image where it stores it (inputdata/2d3c.h5)."""
    folder = tmp_path_factory.mktemp("counting")
    shutil.copy(test_projects / PROJECT, folder / PROJECT)
    (folder / "inputdata").mkdir()
    shutil.copy(fixtures_dir() / "inputdata" / "2d3c.h5", folder / "inputdata")
    return folder


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    with h5py.File(fixtures_dir() / "inputdata" / "2d3c_count_Probabilities.h5", "r") as file:
        return file["exported_data"][()]


def headless(capsys, *args) -> str:
    """`pixelserve --headless ...` in this process (one file: no workers); returns stdout."""
    code = main(["--headless", *map(str, args)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def density(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as file:
        return file["exported_data"][()]


def test_cli_matches_ilastik_for_five_seeds_and_repeats_with_a_seed(folder, reference, capsys):
    """Density MSE <= 1e-3 (ilastik's bar; we get ~5e-6), count within 10 % of ilastik's, the
    CSV line ilastik writes (nickname,str(float64 count)) and the same count in the log line;
    the same seed writes the same density and CSV again."""
    raw = f"{folder}/inputdata/2d3c.h5/data"
    counts, densities = {}, {}
    for run, seed in enumerate([0, 1, 2, 3, 4, 0]):
        out = folder / f"run{run}"
        stdout = headless(capsys, f"--project={folder / PROJECT}", f"--seed={seed}",
                          f"--csv-export-file={out}/counts.csv",
                          f"--output_filename_format={out}/{{nickname}}_{{result_type}}.h5", raw)
        result = density(out / f"{NICKNAME}_Probabilities.h5")
        assert result.shape == reference.shape == (73, 187, 1) and result.dtype == np.float32
        assert np.mean((result.astype(np.float64) - reference) ** 2) <= 1e-3
        line = (out / "counts.csv").read_text()
        name, count = line.rstrip("\n").split(",")
        assert line.count("\n") == 1 and name == NICKNAME
        assert abs(float(count) - result.sum(dtype=np.float64)) < 1e-5
        assert abs(float(count) / REFERENCE_COUNT - 1) <= 0.10, count
        assert f"{NICKNAME}: count {count}\n" in stdout
        if seed in densities:
            assert np.array_equal(result, densities[seed]) and count == counts[seed]
        densities[seed], counts[seed] = result, count
    assert len(set(counts.values())) == 5   # the seed matters


def test_stored_regressors_are_used_without_the_training_image(folder, capsys, tmp_path):
    """`pixelserve train --project` stores the regressors of seed 3; a run of the stored
    project, with the training image gone, gives seed 3's density bit for bit."""
    assert main(["train", f"--project={folder / PROJECT}", f"--output={tmp_path / 'stored.ilp'}",
                 "--seed=3"]) == 0
    assert "Trained 4 regressors of 10 trees on 3 dots and 66 background pixels" in capsys.readouterr().out
    assert read_counting_project(tmp_path / "stored.ilp").stored_regressors is not None
    # another training image chosen in ilastik afterwards makes them stale
    shutil.copy(tmp_path / "stored.ilp", tmp_path / "replaced.ilp")
    with h5py.File(tmp_path / "replaced.ilp", "a") as file:
        file["Input Data/infos/lane0000/Raw Data/filePath"][()] = b"inputdata/other.h5/data"
    assert read_counting_project(tmp_path / "replaced.ilp").stored_regressors is None
    raw = f"{folder}/inputdata/2d3c.h5/data"
    headless(capsys, f"--project={tmp_path / 'stored.ilp'}", f"--output_filename_format={tmp_path}/stored.h5", raw)
    headless(capsys, f"--project={folder / PROJECT}", "--seed=3", f"--output_filename_format={tmp_path}/seed3.h5", raw)
    assert np.array_equal(density(tmp_path / "stored.h5"), density(tmp_path / "seed3.h5"))
    # without its training image, the ilastik project cannot train; the stored one needs none
    moved = tmp_path / "alone"
    moved.mkdir()
    shutil.copy(folder / PROJECT, moved)
    with pytest.raises(UserError, match="cannot be opened.*Fix: put the image there, or store"):
        open_project(moved / PROJECT).predict(np.zeros((40, 40, 3), np.float32), "yxc")
    shutil.copy(tmp_path / "stored.ilp", moved)
    image = density(tmp_path / "stored.h5")
    with h5py.File(folder / "inputdata" / "2d3c.h5", "r") as file:
        result = open_project(moved / "stored.ilp").run(file["data"][()], "yxc")
    assert np.array_equal(result.array, image)
    assert result.tables["counts"].columns["count"][0] == pytest.approx(float(image.sum()), rel=1e-5)


def test_a_batch_trains_once_and_sums_up(folder, tmp_path):
    """Two copies of the image in worker processes, no seed: the regressors are trained once
    (before the workers fork), so both counts are equal; the CSV lists both in lane order and
    the summary repeats them."""
    for name in ("a", "b"):
        shutil.copy(folder / "inputdata" / "2d3c.h5", tmp_path / f"{name}.h5")
    answer = subprocess.run(
        [BIN / "pixelserve", "--headless", f"--project={folder / PROJECT}", "--parallel_files=2", "--threads=2",
         f"--csv_export_file={tmp_path}/counts.csv", "--table_only", f"{tmp_path}/b.h5/data", f"{tmp_path}/a.h5/data"],
        capture_output=True, text=True, timeout=300)
    assert answer.returncode == 0, answer.stderr
    assert "processing 2 files, 2 at a time" in answer.stderr
    lines = (tmp_path / "counts.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["b-data", "a-data"]
    assert lines[0].split(",")[1] == lines[1].split(",")[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "counts.csv"]
    assert "pixelserve: counts of 2 files:" in answer.stderr
    for line in lines:
        name, count = line.split(",")
        assert f"  {name}: count {count}\n" in answer.stderr and f"{name}: count {count}\n" in answer.stdout


def test_input_the_workflow_refuses(folder):
    project = open_project(folder / PROJECT)
    with pytest.raises(UserError, match="2D"):
        project.predict(np.zeros((3, 40, 40, 3), np.float32), "zyxc", options={"seed": 0})
    with pytest.raises(UserError, match="'many' is not an integer"):
        project.predict(np.zeros((40, 40, 3), np.float32), "yxc", options={"seed": "many"})
    assert project.workflow.title == "Counting" and project.export_sources == ["Probabilities"]


# --- the server, its Python client, and a headless run computed by the server ----------------

@pytest.fixture(scope="module")
def served(folder):
    with serving(folder) as address:
        yield address


def test_the_server_returns_density_and_count(folder, served):
    with h5py.File(folder / "inputdata" / "2d3c.h5", "r") as file:
        image = file["data"][()]
    local = open_project(folder / PROJECT).run(image, "yxc", options={"seed": 2})
    with Client(served) as client:
        info = client.project_info(str(folder / PROJECT))
        assert info.title == "Counting" and list(info.tables) == ["counts"]
        assert [option.name for option in info.options] == ["csv_export_file", "seed"]
        result = client.predict(str(folder / PROJECT), image, "yxc", options={"seed": 2}, tables=True)
        assert result.lane_wide and np.array_equal(result.array, local.array)
        remote, here = result.tables["counts"].columns, local.tables["counts"].columns
        assert remote["count"].dtype == np.float64 and remote["count"][0] == here["count"][0]
        counted = client.predict(str(folder / PROJECT), image, "yxc", options={"seed": 2}, tables=True,
                                 table_only=True)
        assert counted.array is None and counted.tables["counts"].columns["count"][0] == here["count"][0]


def test_the_server_trains_a_counting_project_from_dots(folder, served):
    """Train over gRPC (what Fiji's training from point ROIs sends: an image and its dots)."""
    image, centres = blobs_image((128, 128), seed=5)
    dots = dot_labels(centres, image.shape, background=300, seed=5)
    with Client(served) as client:
        info = client.train(str(folder / "served.ilp"), [((image, "yx"), dots)], workflow="counting",
                            features="gaussian:1,3.5 laplacian:1.6 hessian:1.6", seed=0)
        assert info.title == "Counting" and info.workflow == "Cell Density Counting"
        result = client.predict(str(folder / "served.ilp"), image, "yx", tables=True, table_only=True)
    assert abs(result.tables["counts"].columns["count"][0] / len(centres) - 1) <= 0.10
    assert read_counting_project(folder / "served.ilp").stored_regressors is not None


def test_a_headless_run_on_the_server_writes_what_a_local_run_writes(folder, served, capsys, tmp_path):
    raw = f"{folder}/inputdata/2d3c.h5/data"
    outputs = {}
    for where, extra in (("local", []), ("remote", [f"--server={served}"])):
        stdout = headless(capsys, f"--project={folder / PROJECT}", *extra, "--seed=4",
                          f"--csv_export_file={tmp_path}/{where}.csv",
                          f"--output_filename_format={tmp_path}/{where}.h5", raw)
        outputs[where] = (density(tmp_path / f"{where}.h5"), (tmp_path / f"{where}.csv").read_text(), stdout)
    assert np.array_equal(outputs["local"][0], outputs["remote"][0])
    assert outputs["local"][1] == outputs["remote"][1]
    count_line = outputs["local"][1].replace(",", ": count ")
    assert count_line in outputs["local"][2] and count_line in outputs["remote"][2]


# --- training from dots ----------------------------------------------------------------------

FEATURES = "gaussian:0.7,1.6,3.5,5 laplacian:0.7,1.6,3.5 gradient:0.7,1.6,3.5 hessian:1.6,3.5"


def test_training_from_dots_counts_a_held_out_image(tmp_path, capsys):
    image, centres = blobs_image((256, 256), seed=0)
    dots = dot_labels(centres, image.shape, seed=0)
    tifffile.imwrite(tmp_path / "train.tif", image)
    tifffile.imwrite(tmp_path / "dots.tif", dots)
    held_out, truth = blobs_image((256, 256), seed=100)
    tifffile.imwrite(tmp_path / "held_out.tif", held_out)
    assert main(["train", "--workflow=counting", f"--raw_data={tmp_path / 'train.tif'}",
                 f"--labels={tmp_path / 'dots.tif'}", f"--features={FEATURES}", "--seed=0",
                 f"--output={tmp_path / 'blobs.ilp'}"]) == 0
    assert f"on {len(centres)} dots and 1000 background pixels" in capsys.readouterr().out
    # ilastik's layout: labels in the internal x-y order, regressors stored and fresh
    with h5py.File(tmp_path / "blobs.ilp", "r") as file:
        assert file["workflowName"][()] == b"Cell Density Counting"
        assert list(file["Input Data/Role Names"][()]) == [b"Raw Data"]
        block = file["Counting/LabelSets/labels000/block0000"]
        assert block.shape == (256, 256, 1) and np.array_equal(block[..., 0], dots.T)
        assert file["Counting/Rois/rois0000/BoxConstraintRois"].attrs["isEmpty"]
        assert "Density Export" in file and "Sigma" not in file["Counting"]
    model = read_counting_project(tmp_path / "blobs.ilp")
    assert model.internal_axes == ["xyc"] and model.stored_regressors is not None
    stdout = headless(capsys, f"--project={tmp_path / 'blobs.ilp'}", "--table_only", tmp_path / "held_out.tif")
    count = float(stdout.split("held_out: count ")[1].split()[0])
    assert abs(count / len(truth) - 1) <= 0.10, (count, len(truth))


def test_training_refusals(tmp_path, capsys):
    image, centres = blobs_image((64, 64), n_blobs=5, seed=0)
    tifffile.imwrite(tmp_path / "train.tif", image)
    labels = dot_labels(centres, image.shape, background=50, clearance=3)
    labels[0, 0] = 3
    tifffile.imwrite(tmp_path / "three.tif", labels)
    common = ["train", "--workflow=counting", f"--raw_data={tmp_path / 'train.tif'}", "--features=gaussian:1",
              f"--output={tmp_path / 'out.ilp'}"]
    for extra, message in (([f"--labels={tmp_path / 'three.tif'}"], "counting labels are 1"),
                           ([f"--labels={tmp_path / 'three.tif'}", "--trees=5"], "--trees 5 does not apply"),
                           ([f"--labels={tmp_path / 'three.tif'}", "--sigma=0"], "--sigma 0")):
        assert main(common + extra) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out.ilp").exists()


def test_the_server_opens_no_training_image_outside_its_roots(folder, tmp_path):
    """A project inside the roots that names a training image outside them: the server
    refuses to retrain from it (PERMISSION_DENIED) instead of reading the outside file."""
    inside = tmp_path / "served"
    inside.mkdir()
    shutil.copy(folder / PROJECT, inside / PROJECT)
    with h5py.File(inside / PROJECT, "a") as file:
        del file["Input Data/infos/lane0000/Raw Data/filePath"]
        file["Input Data/infos/lane0000/Raw Data/filePath"] = f"{folder}/inputdata/2d3c.h5/data".encode()
    image = np.zeros((73, 187, 3), np.uint8)
    with serving(inside) as address, Client(address) as client:
        with pytest.raises(ServerError) as refused:
            client.predict(str(inside / PROJECT), image, "yxc", tables=True)
        assert refused.value.code.name == "PERMISSION_DENIED" and "outside" in str(refused.value)
        assert client.health() == "SERVING"
