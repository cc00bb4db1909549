"""Every example of docs/training.md runs, in a folder prepared like the one the text
describes, and does what the text says (the pattern of tests/test_docs.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from conftest import check_documented_run, doc_blocks, run_shell
from pixelserve.project.pixel_classification import read_stored_project
from pixelserve.synthetic import cells_image, scribbles

SHELL_BLOCKS = doc_blocks("training.md", "bash")
PYTHON_BLOCKS = doc_blocks("training.md", "python")


def run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_shell(command, cwd, timeout=600)


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("training_docs")
    (folder / "images").mkdir()
    image, truth = cells_image((256, 256), seed=3)
    labels = scribbles(truth, seed=3)
    tifffile.imwrite(folder / "train.tif", image)
    tifffile.imwrite(folder / "train_labels.tif", labels)
    more = scribbles(truth, seed=4, per_class=4)
    more[labels > 0] = 0
    tifffile.imwrite(folder / "more_labels.tif", more)
    tifffile.imwrite(folder / "small_labels.tif", labels[:100, :100])
    for index in (1, 2):
        new, new_truth = cells_image((256, 256), seed=10 + index)
        tifffile.imwrite(folder / "images" / f"cells_{index}.tif", new)
        np.save(folder / f"truth_{index}.npy", new_truth)
    tifffile.imwrite(folder / "images" / "cells_2_labels.tif",
                     scribbles(np.load(folder / "truth_2.npy"), seed=12))
    volume, volume_truth = cells_image((16, 96, 96), seed=5)
    with h5py.File(folder / "volume.h5", "w") as file:
        file["raw"] = volume
        file["labels"] = scribbles(volume_truth, seed=5)
    return folder


@pytest.fixture(scope="module")
def doc_runs(example_folder) -> dict[str, subprocess.CompletedProcess]:
    """Every shell block, run once, in order."""
    return {block: run(block, example_folder) for block in SHELL_BLOCKS}


def test_the_doc_has_examples():
    assert len(SHELL_BLOCKS) >= 8 and PYTHON_BLOCKS


@pytest.mark.parametrize("block", SHELL_BLOCKS)
def test_shell_examples_run(doc_runs, block):
    check_documented_run(doc_runs[block], block)


def test_shell_examples_wrote_what_the_text_says(example_folder, doc_runs):
    folder = example_folder
    truth = np.load(folder / "truth_1.npy")
    for name in ("Simple_Segmentation", "Simple_Segmentation_Stage_2"):
        with h5py.File(folder / "images" / f"cells_1_{name}.h5", "r") as file:
            assert np.mean(file["exported_data"][..., 0] == truth) >= 0.95, name
    for name in ("cells", "small", "volume", "two_images", "auto", "cells_v2", "cells_v3",
                 "moved/cells"):
        assert (folder / f"{name}.ilp").exists(), name
    assert not (folder / "bad.ilp").exists()
    two = read_stored_project(folder / "two_images.ilp")
    assert len(two.lanes) == 2 and all(len(lane) for lane in two.stages[0].labels)
    auto = read_stored_project(folder / "auto.ilp")
    assert auto.workflow_name == "AutocontextTwoStage" and len(auto.stages) == 2
    # cells_v2 holds the labels of both label images; cells_v3 the same, with 200 trees
    both = (tifffile.imread(folder / "train_labels.tif") > 0) | (
        tifffile.imread(folder / "more_labels.tif") > 0)
    v2, v3 = read_stored_project(folder / "cells_v2.ilp"), read_stored_project(folder / "cells_v3.ilp")
    assert len(v2.stages[0].labels[0]) == both.sum() == len(v3.stages[0].labels[0])
    assert v3.stages[0].tree_count == 200
    assert len(v3.stages[0].specs) == 37
    with h5py.File(folder / "moved" / "cells.ilp", "r") as file:
        assert file["Input Data/infos/lane0000/Raw Data/filePath"][()] == b"train.tif"
    with h5py.File(folder / "volume.ilp", "r") as file:
        assert file["FeatureSelections/ComputeIn2d"][()].all()


def test_python_examples_run(example_folder, doc_runs, monkeypatch):
    """The python blocks run in order, as one script, in the example folder."""
    monkeypatch.chdir(example_folder)
    namespace: dict = {}
    for block in PYTHON_BLOCKS:
        exec(compile(block, "docs/training.md", "exec"), namespace)
    truth = np.load(example_folder / "truth_1.npy")
    assert np.mean(namespace["probabilities"].argmax(-1) + 1 == truth) >= 0.9
