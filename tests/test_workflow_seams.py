"""The seams every workflow uses, proven by a workflow that exists in the test suite only
(cc_workflow.py: lane-wide connected components with a flag of its own, an image and a
table): it runs through the CLI, the server, the Python client and the API without any
change outside its own registry call. Also: the registry's refusals, and that front doors
name no workflow."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

import cc_workflow
from conftest import ROOT, serving
from pixelserve import open_project
from pixelserve.client import Client
from pixelserve.errors import ProjectError
from pixelserve.workflows import load_workflow, workflow_types

BIN = Path(sys.executable).parent


def blobs(seed: int = 0, shape=(60, 70)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros(shape, np.float32)
    for _ in range(12):
        y, x = rng.integers(4, shape[0] - 4), rng.integers(4, shape[1] - 4)
        r = rng.integers(1, 4)
        image[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = rng.uniform(0.5, 1.0)
    return image


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cc")
    cc_workflow.write_project(folder / "cc.ilp")
    tifffile.imwrite(folder / "one.tif", blobs(1))
    tifffile.imwrite(folder / "two.tif", blobs(2))
    return folder


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict:
    return cc_workflow.plugin_environment(tmp_path_factory.mktemp("site"))


def expected_labels(image: np.ndarray, threshold: float) -> np.ndarray:
    return ndimage.label(image > threshold)[0].astype(np.uint32)


def run_cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "pixelserve", *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


# --- the command line -----------------------------------------------------------------------

def test_the_cli_runs_a_registered_workflow_with_its_own_flag(folder, plugin_env, tmp_path):
    answer = run_cli(["--headless", f"--project={folder / 'cc.ilp'}", "--threshold=0.7", "--output_format=tif",
                      f"--output_filename_format={tmp_path}/{{nickname}}_{{result_type}}",
                      f"--table_filename={tmp_path}/{{nickname}}_objects.csv", folder / "one.tif", folder / "two.tif"],
                     plugin_env)
    assert answer.returncode == 0, answer.stderr
    for name, seed in (("one", 1), ("two", 2)):
        labels = tifffile.imread(tmp_path / f"{name}_Object_Identities.tif")
        truth = expected_labels(blobs(seed), 0.7)
        np.testing.assert_array_equal(labels.reshape(truth.shape), truth)
        rows = read_csv(tmp_path / f"{name}_objects.csv")
        sizes = np.bincount(truth.ravel())[1:]
        assert [int(row["object_id"]) for row in rows] == list(range(1, truth.max() + 1))
        assert [int(row["size"]) for row in rows] == sizes.tolist()
        assert {row["kind"] for row in rows} <= {"large", "small"}


def test_table_only_writes_the_table_and_no_image(folder, plugin_env, tmp_path):
    answer = run_cli(["--headless", f"--project={folder / 'cc.ilp'}", "--table_only", "--output_format=tif",
                      f"--output_filename_format={tmp_path}/image", f"--table_filename={tmp_path}/objects.h5",
                      folder / "one.tif"], plugin_env)
    assert answer.returncode == 0, answer.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["objects.h5"]
    import h5py
    with h5py.File(tmp_path / "objects.h5") as file:
        table = file["table"][()]
    assert table["size"].tolist() == np.bincount(expected_labels(blobs(1), 0.5).ravel())[1:].tolist()
    assert set(table["kind"].tolist()) <= {b"large", b"small"}


def test_the_workflows_flags_are_its_own(folder, plugin_env, project_2d, tmp_path):
    shown = run_cli(["--help", f"--project={folder / 'cc.ilp'}"], plugin_env)
    assert shown.returncode == 0 and "--threshold" in shown.stdout and "Connected Components options" in shown.stdout
    refused = run_cli(["--headless", f"--project={project_2d}", "--threshold=0.2", folder / "one.tif"], plugin_env)
    assert refused.returncode == 2 and "Unknown flag --threshold" in refused.stderr
    bad = run_cli(["--headless", f"--project={folder / 'cc.ilp'}", "--threshold=high", folder / "one.tif"], plugin_env)
    assert bad.returncode == 2 and "--threshold='high' is not a number" in bad.stderr
    table_only = run_cli(["--headless", f"--project={project_2d}", "--table_only", folder / "one.tif"], plugin_env)
    assert table_only.returncode == 2 and "give no tables" in table_only.stderr


# --- the Python API ------------------------------------------------------------------------

def test_the_python_api_returns_the_image_and_the_table(folder):
    project = open_project(folder / "cc.ilp")
    image = blobs(3)
    result = project.run(image, "yx", options={"threshold": 0.6})
    np.testing.assert_array_equal(result.array[..., 0], expected_labels(image, 0.6))
    table = result.tables["objects"]
    assert table.columns["size"].tolist() == np.bincount(expected_labels(image, 0.6).ravel())[1:].tolist()
    structured = table.to_structured()
    assert structured.dtype.names == tuple(table.columns) and structured["kind"].dtype.kind == "U"
    only = project.run(image, "yx", image_wanted=False)
    assert only.array is None and "objects" in only.tables
    np.testing.assert_array_equal(project.predict(image, "yx", export_source="Foreground")[..., 0],
                                  image > 0.5)


# --- the server, its Python client and the remote run --------------------------------------

@pytest.fixture(scope="module")
def served(folder, plugin_env):
    with serving(folder, plugin_env) as address:
        yield address


def test_the_server_advertises_and_runs_the_workflow(folder, served):
    with Client(served) as client:
        types = {kind.title: kind for kind in client.server_info().workflow_types}
        assert cc_workflow.PROJECT_NAME in types["Connected Components"].project_names
        assert [option.name for option in types["Connected Components"].options] == ["threshold", "table_filename"]
        info = client.project_info(str(folder / "cc.ilp"))
        assert info.title == "Connected Components" and list(info.tables) == ["objects"]
        image = blobs(4)
        result = client.predict(str(folder / "cc.ilp"), image, "yx", options={"threshold": 0.55}, tables=True)
        np.testing.assert_array_equal(result.array.reshape(image.shape), expected_labels(image, 0.55))
        assert result.lane_wide
        local = open_project(folder / "cc.ilp").run(image, "yx", options={"threshold": 0.55})
        remote_table, local_table = result.tables["objects"], local.tables["objects"]
        assert list(remote_table.columns) == list(local_table.columns)
        for name in local_table.columns:
            np.testing.assert_array_equal(remote_table.columns[name], local_table.columns[name])
        only = client.predict(str(folder / "cc.ilp"), image, "yx", tables=True, table_only=True)
        assert only.array is None and only.tables["objects"].rows == local_table.rows


def test_a_remote_run_writes_what_a_local_run_writes(folder, served, plugin_env, tmp_path):
    for where, extra in (("local", []), ("remote", [f"--server={served}"])):
        answer = run_cli(["--headless", f"--project={folder / 'cc.ilp'}", *extra, "--output_format=numpy",
                          f"--output_filename_format={tmp_path}/{where}_{{nickname}}",
                          f"--table_filename={tmp_path}/{where}_{{nickname}}.csv", folder / "one.tif"], plugin_env)
        assert answer.returncode == 0, answer.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "local_one.npy"), np.load(tmp_path / "remote_one.npy"))
    assert (tmp_path / "local_one.csv").read_text() == (tmp_path / "remote_one.csv").read_text()


# --- the registry ----------------------------------------------------------------------------

def test_projects_of_known_and_unknown_workflows_are_refused_in_one_sentence(tmp_path, project_2d):
    for name, expected in (("Carving", "is an ilastik Carving project ('Carving'), which this version of pixelserve does not run"),
                           ("Something Else", "stores the workflow name 'Something Else', which neither ilastik nor pixelserve knows")):
        path = tmp_path / f"{name}.ilp"
        shutil.copy(project_2d, path)
        import h5py
        with h5py.File(path, "a") as file:
            del file["workflowName"]
            file["workflowName"] = name.encode()
        with pytest.raises(ProjectError, match=re.escape(expected)):
            load_workflow(path)


def test_class_names_of_blank_projects_are_recognised(tmp_path, project_2d):
    path = tmp_path / "blank_named.ilp"
    shutil.copy(project_2d, path)
    import h5py
    with h5py.File(path, "a") as file:
        del file["workflowName"]
        file["workflowName"] = b"PixelClassificationWorkflow"
    assert load_workflow(path).title == "Pixel Classification"
    assert {"Pixel Classification", "Autocontext", "Connected Components"} <= {kind.title for kind in workflow_types()}


FRONT_DOORS = ["headless", "server", "protocol/__init__.py", "client.py", "api.py", "results.py"]


def test_front_doors_name_no_workflow_and_probe_nothing():
    names = [name for kind in workflow_types() for name in (kind.title, *kind.project_names)]
    package = ROOT / "python" / "pixelserve"
    files = [path for door in FRONT_DOORS for path in
             ((package / door).rglob("*.py") if (package / door).is_dir() else [package / door])]
    for path in files:
        text = path.read_text()
        named = [name for name in names if f'"{name}"' in text or f"'{name}'" in text]
        assert not named, f"{path.relative_to(ROOT)} names the workflow(s) {named}"
        assert "getattr(workflow" not in text and "getattr(source" not in text, path
