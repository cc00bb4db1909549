"""Retraining ilastik's own projects from their stored labels, and continuing them.

A forest retrained by scikit-learn is not ilastik's vigra forest, so probabilities differ; the
winning class should not, except where ilastik itself is unsure."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

import pixelserve
from conftest import fixtures_dir
from pixelserve.headless.cli import main
from pixelserve.project.pixel_classification import read_stored_project

# (project, input, axes as in tests/test_ilastik_fixtures.py, export source, ilastik's result,
#  least agreement of the winning class)
API_CASES = [
    ("PixelClass.ilp", "Data_1channel.png", "yxc", "Probabilities", "res-Data_1channel_pc1xyc.npy", 0.95),
    ("2464_PixelClassification_xy_input.ilp", "Data_1channel.png", "yxc", "Probabilities",
     "res-Data_1channel_pc1xy.npy", 0.95),
    ("PixelClass3Channel.ilp", "Data_3channel.png", "yxc", "Probabilities",
     "res-Data_3channel_pc3c.npy", 0.95),
    ("Autocontext_2D.ilp", "Data_1channel.png", "yxc", "Probabilities Stage 2",
     "res-Data_1channel_ac2ds2.npy", 0.95),
    # The 3D projects hold 60 and 137 labelled pixels on one slice of a 64^3 volume: where the
    # forests disagree ilastik's own winning probability is ~0.55 (measured: 91-95 % agreement
    # at seed 0, 83-98 % over seeds), so a lower bound here only guards the 3D path.
    ("PixelClass3D.ilp", "Data_3D.npy", "zyxc", "Probabilities", "res-Data_3D_pc3d.npy", 0.85),
    ("PixelClass3D_2D_3D_feature_mix.ilp", "Data_3D.npy", "zyxc", "Probabilities",
     "res-Data_3D_pc3d2dfm.npy", 0.85),
    ("Autocontext_3D.ilp", "Data_3D.npy", "zyxc", "Probabilities Stage 2", "res-Data_3D_ac2ds2.npy", 0.85),
]

# 2018 projects (ilastik 1.2) with ilastik 1.3's results in inputdata/*_Probabilities.h5.
LEGACY_CASES = [
    ("PixelClassification2d.ilp", "2d.h5/data", "2d_Probabilities.h5", 0.95),
    ("PixelClassification2d3c.ilp", "2d3c.h5/data", "2d3c_Probabilities.h5", 0.95),
    ("PixelClassification5t2d1c.ilp", "5t2d1c.h5/data", "5t2d1c_Probabilities.h5", 0.95),
    ("PixelClassification3d.ilp", "3d.h5/data", "3d_Probabilities.h5", 0.85),   # 32 labels
]


def _run(*argv) -> int:
    return main([str(a) for a in argv])


def _agreement(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.mean(ours.argmax(-1) == theirs.reshape(ours.shape).argmax(-1)))


@pytest.mark.parametrize("project, image, axes, source, result, least", API_CASES,
                         ids=[c[0] for c in API_CASES])
def test_retrained_api_projects_agree_with_ilastik(api_projects, tmp_path, project, image, axes,
                                                   source, result, least):
    retrained = tmp_path / "retrained.ilp"
    assert _run("train", "--project", api_projects / project, "--raw_data", api_projects / image,
                "--input_axes", axes, "--seed", "0", "--output", retrained) == 0
    assert _run("--headless", f"--project={retrained}", api_projects / image, "--input_axes", axes,
                "--export_source", source, "--output_format=numpy",
                f"--output_filename_format={tmp_path}/out") == 0
    agreement = _agreement(np.load(tmp_path / "out.npy"), np.load(api_projects / result))
    assert agreement >= least, agreement
    # the stored labels, features and names travel unchanged
    before, after = read_stored_project(api_projects / project), read_stored_project(retrained)
    for old, new in zip(before.stages, after.stages, strict=True):
        assert new.label_names == old.label_names
        assert set(new.specs) == set(old.specs)
        for old_lane, new_lane in zip(old.labels, new.labels, strict=True):
            np.testing.assert_array_equal(new_lane.coords, old_lane.coords)
            np.testing.assert_array_equal(new_lane.values, old_lane.values)


@pytest.mark.parametrize("project, image, reference, least", LEGACY_CASES,
                         ids=[c[0] for c in LEGACY_CASES])
def test_retrained_2018_projects_agree_with_ilastik(test_projects, tmp_path, project, image,
                                                    reference, least):
    inputs = fixtures_dir() / "inputdata"
    retrained = tmp_path / "retrained.ilp"
    assert _run("train", "--project", test_projects / project, "--raw_data", inputs / image,
                "--seed", "0", "--output", retrained) == 0
    assert _run("--headless", f"--project={retrained}", f"--raw_data={inputs / image}",
                "--output_format=hdf5", f"--output_filename_format={tmp_path}/out.h5") == 0
    with h5py.File(tmp_path / "out.h5", "r") as ours, h5py.File(inputs / reference, "r") as theirs:
        agreement = _agreement(ours["exported_data"][()], theirs["exported_data"][()])
    assert agreement >= least, agreement


def test_labels_added_to_an_ilastik_project_without_classifier(api_projects, tmp_path):
    """ilastik's project has features and class names but no labels or classifier yet."""
    image = np.asarray(Image.open(api_projects / "Data_1channel.png"))
    reference = np.load(api_projects / "res-Data_1channel_pc1xyc.npy")
    # Scribbles where ilastik's own PixelClass.ilp is confident, as a user would draw them.
    labels = np.zeros(image.shape, np.uint8)
    confident = reference.max(-1) > 0.95
    rng = np.random.default_rng(0)
    for value in (1, 2):
        where = np.argwhere(confident & (reference.argmax(-1) == value - 1))
        for y, x in where[rng.choice(len(where), 20, replace=False)]:
            labels[max(0, y - 1):y + 2, max(0, x - 1):x + 2] = value
    project = pixelserve.train(project=api_projects / "PixelClassNoClassifier.ilp", labels=labels,
                               output=tmp_path / "continued.ilp", seed=0, progress=False)
    assert project.label_names == ["Label 1", "Label 2"]
    stored = read_stored_project(api_projects / "PixelClassNoClassifier.ilp")
    assert set(read_stored_project(tmp_path / "continued.ilp").stages[0].specs) == set(
        stored.stages[0].specs)
    result = project.predict(image, axes="yx")
    assert _agreement(result, reference) >= 0.9


def test_an_ilastik_project_without_images_gets_them_from_raw_data(api_projects, tmp_path):
    """Its class names and colours are empty lists, which ilastik stores as placeholders."""
    labels = np.zeros((128, 128), np.uint8)
    labels[10:14, 10:14], labels[60:64, 60:64] = 1, 2
    project = pixelserve.train(api_projects / "Data_1channel.png", labels, tmp_path / "x.ilp",
                               project=api_projects / "PixelClassNoData.ilp", trees=5, seed=0,
                               progress=False)
    assert project.label_names == ["Label 1", "Label 2"]
    assert project.input_roles[0].channels == 1


def test_a_project_of_another_workflow_is_refused(test_projects, tmp_path, capsys):
    assert _run("train", "--project", test_projects / "Boundary-basedSegmentationwMulticut3d.ilp",
                "--output", tmp_path / "x.ilp") == 2
    err = capsys.readouterr().err
    assert "Object Classification and Cell Density Counting projects only" in err and "Fix" in err
