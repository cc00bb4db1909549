"""Every example of docs/object-classification.md runs, in a folder prepared as the text
describes, and does what the text says; the server example runs against a real server (its
documented address replaced by the test server's)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from scipy import ndimage

from conftest import check_documented_run, doc_blocks, run_shell, serving
from objects_fixtures import object_probabilities, write_shapes
from pixelserve.objects.segmentation import ThresholdSettings, threshold

DOC = "object-classification.md"
DOC_ADDRESS = "127.0.0.1:50051"
SHELL_BLOCKS = doc_blocks(DOC, "bash")
PYTHON_BLOCKS = doc_blocks(DOC, "python")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("object_docs")
    write_shapes(folder, {"cells": 1, "new": 2}, maps=True)
    truth = np.load(folder / "cells_truth.npy")
    objects, count = ndimage.label(truth > 0)
    centres = [tuple(np.argwhere(objects == i)[0]) for i in range(1, count + 1)]
    for name, chosen in (("cells_labels", centres[:40:2]), ("more_labels", centres[1:40:2])):
        labels = np.zeros_like(truth)
        for y, x in chosen:
            labels[y, x] = truth[y, x]
        tifffile.imwrite(folder / f"{name}.tif", labels)
    thresholded = threshold(object_probabilities(truth)[None], ThresholdSettings(channel=1, min_size=10))[0]
    rows = [(i, int(np.bincount(truth[thresholded == i]).argmax())) for i in range(1, thresholded.max() + 1, 3)]
    (folder / "objects.csv").write_text("timestep,labelimage_oid,class\n" + "".join(f"0,{i},{c}\n" for i, c in rows))
    return folder


@pytest.fixture(scope="module")
def doc_runs(folder) -> dict[str, subprocess.CompletedProcess]:
    return {block: run_shell(block, folder, timeout=600) for block in SHELL_BLOCKS}


def test_the_doc_has_examples():
    assert len(SHELL_BLOCKS) >= 6 and len(PYTHON_BLOCKS) >= 3


@pytest.mark.parametrize("block", SHELL_BLOCKS)
def test_shell_examples_run(doc_runs, block):
    check_documented_run(doc_runs[block], block)


def object_classes(image: np.ndarray, truth: np.ndarray) -> float:
    objects, count = ndimage.label(truth > 0)
    index = np.arange(1, count + 1)
    return float(np.mean(ndimage.maximum(image, objects, index) == ndimage.maximum(truth, objects, index)))


def test_the_shell_examples_wrote_what_the_text_says(folder, doc_runs):
    truth = np.load(folder / "new_truth.npy")
    with h5py.File(folder / "new_Object_Predictions.h5") as file:
        predictions = file["exported_data"][..., 0]
    assert object_classes(predictions, truth) >= 0.95
    with open(folder / "new_table.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == ndimage.label(truth > 0)[1] and rows[0]["Predicted Class"] in ("round", "elongated")
    probabilities = tifffile.imread(folder / "out" / "new_Object_Probabilities.tif")
    assert probabilities.dtype == np.float32 and 2 in probabilities.shape
    with h5py.File(folder / "out" / "objects.h5") as file:
        assert file["table"].shape == (len(rows),)
    with h5py.File(folder / "out" / "new_blockwise.h5") as file:
        assert object_classes(file["exported_data"][..., 0], truth) >= 0.9
    assert (folder / "shapes_v2.ilp").exists() and (folder / "maps.ilp").exists()


def test_python_examples_run(folder, monkeypatch):
    monkeypatch.chdir(folder)
    with serving(folder) as address:
        for block in PYTHON_BLOCKS:
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                exec(compile(block.replace(DOC_ADDRESS, address), DOC, "exec"), {"__name__": "docs"})
            assert output.getvalue().strip(), block
    assert (Path(os.getcwd()) / "shapes_api.ilp").exists()
