"""Every example of docs/counting.md runs, in a folder prepared like the one the text
describes, and does what the text says (the pattern of tests/test_docs.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from conftest import check_documented_run, doc_blocks, run_shell
from pixelserve import train
from pixelserve.project.counting import REGRESSORS_GROUP, read_counting_project
from pixelserve.synthetic import blobs_image, dot_labels

SHELL_BLOCKS = doc_blocks("counting.md", "bash")
PYTHON_BLOCKS = doc_blocks("counting.md", "python")
TEXT_BLOCKS = doc_blocks("counting.md", "text")


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("counting_docs")
    (folder / "images").mkdir()
    image, centres = blobs_image((256, 256), seed=0)
    tifffile.imwrite(folder / "train.tif", image)
    tifffile.imwrite(folder / "dots.tif", dot_labels(centres, image.shape, seed=0))
    for index in (1, 2):
        plate, truth = blobs_image((256, 256), seed=99 + index)
        tifffile.imwrite(folder / "images" / f"plate_{index}.tif", plate)
        np.save(folder / f"truth_{index}.npy", truth)
    # a project as ilastik saves it: labels and features, no regressors pixelserve can read
    train(folder / "train.tif", folder / "dots.tif", folder / "ilastik_cells.ilp", workflow="counting",
          features="gaussian:0.7,1.6,3.5,5 laplacian:0.7,1.6,3.5 gradient:0.7,1.6,3.5 hessian:1.6,3.5", seed=9)
    with h5py.File(folder / "ilastik_cells.ilp", "a") as file:
        del file[f"Counting/{REGRESSORS_GROUP}"]
    return folder


@pytest.fixture(scope="module")
def doc_runs(example_folder) -> dict[str, subprocess.CompletedProcess]:
    """Every shell block, run once, in order."""
    return {block: run_shell(block, example_folder, timeout=600) for block in SHELL_BLOCKS}


def truth(folder: Path, index: int) -> int:
    return len(np.load(folder / f"truth_{index}.npy"))


def test_the_doc_has_examples():
    assert len(SHELL_BLOCKS) >= 5 and PYTHON_BLOCKS and TEXT_BLOCKS


@pytest.mark.parametrize("block", SHELL_BLOCKS)
def test_shell_examples_run(doc_runs, block):
    check_documented_run(doc_runs[block], block)


def test_shell_examples_wrote_what_the_text_says(example_folder, doc_runs):
    folder = example_folder
    batch = doc_runs[SHELL_BLOCKS[0]]
    lines = (folder / "counts.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["plate_1", "plate_2"]
    for index, line in enumerate(lines, start=1):
        count = float(line.split(",")[1])
        assert abs(count / truth(folder, index) - 1) <= 0.10, (count, truth(folder, index))
        assert line.replace(",", ": count ") in batch.stdout and line.replace(",", ": count ") in batch.stderr
    assert "pixelserve: counts of 2 files:" in batch.stderr
    with h5py.File(folder / "images" / "plate_1_Probabilities.h5", "r") as file:
        assert file["exported_data"].shape == (256, 256, 1) and file["exported_data"].dtype == np.float32
    # --table_only, and the stored regressors of seed 1, count as the batch with --seed=1 did
    table_only, stored = doc_runs[SHELL_BLOCKS[1]], doc_runs[SHELL_BLOCKS[2]]
    assert table_only.stdout == f"{lines[0].replace(',', ': count ')}\n"
    assert stored.stdout.startswith("Trained 4 regressors of 10 trees on 72 dots and 1000 background pixels")
    assert stored.stdout.endswith(table_only.stdout)
    assert read_counting_project(folder / "cells_ready.ilp").stored_regressors is not None
    new = (folder / "new_counts.csv").read_text().splitlines()
    assert len(new) == 1 and abs(float(new[0].split(",")[1]) / truth(folder, 1) - 1) <= 0.10
    assert not (folder / "wrong.ilp").exists()


def test_the_printed_examples_look_like_the_output(example_folder, doc_runs):
    """The CSV lines and log lines the text shows have the form the commands print."""
    csv, log = TEXT_BLOCKS[:2]
    assert all(re.fullmatch(r"plate_\d,\d+\.\d+", line) for line in csv.splitlines())
    written = (example_folder / "counts.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in csv.splitlines()] == [line.split(",")[0] for line in written]
    assert "plate_1: count" in log and "pixelserve: counts of 2 files:" in log


def test_python_examples_run(example_folder, doc_runs, monkeypatch):
    """The python blocks run in order, as one script, in the example folder."""
    monkeypatch.chdir(example_folder)
    namespace: dict = {}
    for block in PYTHON_BLOCKS:
        exec(compile(block, "docs/counting.md", "exec"), namespace)
    assert namespace["density"].shape == (256, 256, 1)
    assert abs(namespace["count"] / truth(example_folder, 2) - 1) <= 0.10
    assert namespace["count"] == pytest.approx(float(namespace["density"].sum(dtype=np.float64)), rel=1e-6)
