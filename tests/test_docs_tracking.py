"""Every example of docs/tracking.md runs, on the TrackingwLearning5t2d1c_wBin fixture (a project
from a binary segmentation, its 5-frame movie), and writes what the text says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from conftest import EXPECTED_FAILURE, doc_blocks, fixtures_dir, run_shell, serving

DOC = "tracking.md"


@pytest.fixture(scope="module")
def folder(test_projects, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tracking_docs")
    shutil.copy(test_projects / "TrackingwLearning5t2d1c_wBin.ilp", folder / "CellTracking.ilp")
    shutil.copy(fixtures_dir() / "inputdata" / "5t2d1c.h5", folder / "movie.h5")
    shutil.copy(fixtures_dir() / "inputdata" / "5t2d1c_Binary_Segmentation.h5", folder / "movie_segmentation.h5")
    (folder / "movie_bdv.xml").write_text("<SpimData version=\"0.2\"/>\n")
    return folder


@pytest.fixture(scope="module")
def shell_runs(folder) -> list[tuple[str, subprocess.CompletedProcess]]:
    return [(block, run_shell(block, folder)) for block in doc_blocks(DOC, "bash")]


def test_shell_examples_run_and_write_what_the_text_says(shell_runs, folder):
    for block, result in shell_runs:
        expected = EXPECTED_FAILURE.search(block)
        if expected:
            assert result.returncode == int(expected.group(1)) and "--export_plugin" in result.stderr, result.stderr
        else:
            assert result.returncode == 0, f"{block}\n{result.stderr}"
    with h5py.File(folder / "movie-data_Tracking-Result.h5", "r") as file:
        lineages = file["exported_data"][()]
        assert lineages.shape == (5, 33, 77, 1) and lineages.dtype == np.uint32
    identities = tifffile.imread(folder / "identities" / "movie-data.tif").reshape(5, 33, 77)
    assert np.all(identities[lineages[..., 0] > 0] > 0)     # every tracked pixel belongs to an object
    table = np.genfromtxt(folder / "movie-data_CSV-Table.csv", delimiter=",", names=True)
    assert table.dtype.names[:6] == ("frame", "labelimageId", "trackId", "lineageId", "parentTrackId",
                                     "mergerLabelId")
    assert {int(v) for v in table["lineageId"] if v > 0} == set(np.unique(lineages[lineages > 1]).tolist())
    masks = sorted(path.name for path in (folder / "ctc" / "01_RES").iterdir())
    assert masks == ["mask000.tif", "mask001.tif", "mask002.tif", "mask003.tif", "mask004.tif", "res_track.txt"]
    assert (folder / "mamut" / "movie-data_mamut.xml").read_text().count("<Spot ") > 0


def test_python_examples_run(folder, monkeypatch):
    api_example, client_example = doc_blocks(DOC, "python")
    monkeypatch.chdir(folder)
    namespace: dict = {}
    exec(api_example, namespace)
    assert namespace["lineages"].shape == (5, 33, 77, 1)
    assert namespace["identities"].array.max() >= namespace["tracks"]["labelimageId"].max()
    with serving(folder) as address:
        exec(client_example, {**namespace, "ADDRESS": address})
    np.testing.assert_array_equal(namespace["lineages"], namespace["result"].array)
