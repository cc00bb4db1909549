"""Every example of docs/multicut.md runs, in a folder holding ilastik's 3D multicut test
project and its inputs, and does what the text says."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from conftest import EXPECTED_FAILURE, check_documented_run, doc_blocks, fixtures_dir, run_shell
from multicut_helpers import legacy_project

SHELL_BLOCKS = doc_blocks("multicut.md", "bash")
PROJECT = "Boundary-basedSegmentationwMulticut3d.ilp"


@pytest.fixture(scope="module")
def folder(test_projects, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("multicut_docs")
    shutil.copy(test_projects / PROJECT, folder)
    (folder / "inputdata").symlink_to(fixtures_dir() / "inputdata")
    return folder


@pytest.fixture(scope="module")
def doc_runs(folder) -> dict[str, subprocess.CompletedProcess]:
    """Every shell block, run once, in order."""
    return {block: run_shell(block, folder) for block in SHELL_BLOCKS}


@pytest.mark.parametrize("block", SHELL_BLOCKS)
def test_shell_examples_run(doc_runs, block):
    check_documented_run(doc_runs[block], block)
    if EXPECTED_FAILURE.search(block):   # the message the comment quotes
        assert block.split("# exits with code 2: ")[1].strip() in doc_runs[block].stderr


def test_shell_examples_wrote_what_the_text_says(folder, doc_runs):
    results = folder / "results"
    segmentation = tifffile.imread(results / "3d-data_segmentation.tif").squeeze()  # TZCYX: not an ImageJ type
    assert segmentation.dtype == np.uint32 and segmentation.shape == (50, 60, 55)
    _, stored_superpixels, _ = legacy_project(folder, "3d")
    with h5py.File(results / "3d-data_superpixels.h5", "r") as file:
        np.testing.assert_array_equal(file["exported_data"][..., 0], stored_superpixels)
    with h5py.File(results / "3d-data_from_given.h5", "r") as file:
        np.testing.assert_array_equal(file["exported_data"][..., 0], segmentation)
    with open(results / "3d-data_edges.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["timestep", "sp1", "sp2", "probability", "weight", "cut"]
    assert len(rows) == 2023 and all(int(row["sp1"]) < int(row["sp2"]) for row in rows)


def test_python_example_runs(folder, monkeypatch, capsys):
    [block] = doc_blocks("multicut.md", "python")
    monkeypatch.chdir(folder)
    namespace: dict = {}
    exec(compile(block, "docs/multicut.md", "exec"), namespace)
    assert namespace["segmentation"].shape == (50, 60, 55, 1)
    assert "(50, 60, 55, 1) 2023 edges," in capsys.readouterr().out
