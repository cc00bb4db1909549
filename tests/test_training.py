"""`pixelserve train` and `pixelserve.train`: new projects, continued projects, autocontext,
what the written project holds, and a clear error for every bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

import pixelserve
from pixelserve.classifiers import read_vigra_forest
from pixelserve.features import compute_features
from pixelserve.headless.cli import main
from pixelserve.project.label_sets import SparseLabels
from pixelserve.project.pixel_classification import read_stored_project
from pixelserve.synthetic import cells_image, scribbles
from pixelserve.training.feature_choice import choose_features
from pixelserve.training.stage_labels import distribute, strokes
from pixelserve.training.trainer import train_project
from pixelserve.workflows.stages import _to_dtype

SMALL = "gaussian:0.3,1,3.5 laplacian:1,3.5 gradient:1 hessian:1,3.5 structure:1"


@pytest.fixture
def training_images(tmp_path):
    image, truth = cells_image((128, 128), seed=31)
    tifffile.imwrite(tmp_path / "raw.tif", image)
    tifffile.imwrite(tmp_path / "labels.tif", scribbles(truth, seed=31))
    held_out, held_out_truth = cells_image((128, 128), seed=32)
    tifffile.imwrite(tmp_path / "new.tif", held_out)
    return tmp_path, held_out_truth


def _segment(folder, project, name="seg", source="Simple Segmentation"):
    assert main(["--headless", f"--project={project}", f"--export_source={source}",
                 "--output_format=numpy", f"--output_filename_format={folder}/{name}",
                 f"{folder}/new.tif"]) == 0
    return np.load(folder / f"{name}.npy")[..., 0]


def _stored_labels(project, stage="PixelClassification", shape=(128, 128)):
    with h5py.File(project, "r") as file:
        stored = np.zeros(shape, np.uint8)
        for block in file[f"{stage}/LabelSets/labels000"].values():
            ranges = [part.split(":") for part in block.attrs["blockSlice"].strip("[]").split(",")]
            (y0, y1), (x0, x1) = [(int(a), int(b)) for a, b in ranges[:2]]
            assert block.shape == (y1 - y0, x1 - x0, 1)
            stored[y0:y1, x0:x1] = np.where(block[..., 0] > 0, block[..., 0], stored[y0:y1, x0:x1])
    return stored


def test_trained_project_predicts_held_out_pixels(training_images):
    folder, truth = training_images
    assert main(["train", "--raw_data", f"{folder}/raw.tif", "--labels", f"{folder}/labels.tif",
                 "--label_names", "background,cell", "--trees", "30", "--seed", "1",
                 "--max_scale", "3.5", "--output", f"{folder}/cells.ilp"]) == 0
    np.testing.assert_array_equal(_stored_labels(folder / "cells.ilp"),
                                  tifffile.imread(folder / "labels.tif"))
    assert np.mean(_segment(folder, folder / "cells.ilp") == truth) >= 0.95


def test_autocontext_through_the_cli_predicts_held_out_pixels(training_images, capsys):
    folder, truth = training_images
    assert main(["train", "--workflow", "autocontext", "--raw_data", f"{folder}/raw.tif",
                 "--labels", f"{folder}/labels.tif", "--label_names", "background,cell",
                 "--trees", "30", "--seed", "2", "--features", SMALL,
                 "--output", f"{folder}/auto.ilp"]) == 0
    assert "stage 2:" in capsys.readouterr().out
    project = pixelserve.open_project(folder / "auto.ilp")
    assert project.workflow_name == "AutocontextTwoStage"
    segmentation = _segment(folder, folder / "auto.ilp", source="Simple Segmentation Stage 2")
    assert np.mean(segmentation == truth) >= 0.95
    # crossfit (the default) keeps every label in both stages
    labels = tifffile.imread(folder / "labels.tif")
    for stage in ("PixelClassification", "PixelClassification01"):
        np.testing.assert_array_equal(_stored_labels(folder / "auto.ilp", stage), labels)


def test_autocontext_partition_gives_each_stage_a_share_of_the_strokes(training_images):
    folder, _ = training_images
    assert main(["train", "--workflow", "autocontext", "--stage_labels", "partition",
                 "--raw_data", f"{folder}/raw.tif", "--labels", f"{folder}/labels.tif",
                 "--trees", "10", "--seed", "2", "--features", SMALL,
                 "--output", f"{folder}/parted.ilp"]) == 0
    first = _stored_labels(folder / "parted.ilp", "PixelClassification")
    second = _stored_labels(folder / "parted.ilp", "PixelClassification01")
    assert not ((first > 0) & (second > 0)).any()
    np.testing.assert_array_equal(first + second, tifffile.imread(folder / "labels.tif"))
    assert set(np.unique(first)) == set(np.unique(second)) == {0, 1, 2}


def _in_memory(result, image):
    """The trained scikit-learn forests applied to whole-image features, stage by stage,
    without the project file or pixelserve's forest code."""
    data = image[None, :, :, None]
    probabilities = None
    for stage in result.stages:
        stage_input = data if probabilities is None else np.concatenate(
            [data, _to_dtype(probabilities, data.dtype)], axis=-1)
        features = compute_features(stage_input, stage.specs, depth=1)
        stage.classifier.n_jobs = 1   # sums the trees in order, as the file's reader does
        rows = stage.classifier.predict_proba(features.reshape(-1, features.shape[-1]))
        probabilities = np.zeros(features.shape[:-1] + (len(stage.label_names),), np.float32)
        probabilities[..., stage.known_labels.astype(int) - 1] = rows.reshape(
            features.shape[:-1] + (-1,)).astype(np.float32)
    return probabilities[0]


@pytest.mark.parametrize("workflow", ["pixel", "autocontext"])
def test_written_project_predicts_bit_identically_to_the_trained_forests(training_images,
                                                                          workflow):
    folder, _ = training_images
    result = train_project(folder / "p.ilp", folder / "raw.tif", folder / "labels.tif",
                           label_names="background,cell", features=SMALL, trees=20, seed=3,
                           workflow=workflow, progress=False)
    image = tifffile.imread(folder / "new.tif")
    read_back = pixelserve.open_project(result.path).predict(image, axes="yx")
    np.testing.assert_array_equal(read_back, _in_memory(result, image))


def test_seed_makes_training_repeatable_whatever_the_threads(training_images):
    folder, _ = training_images
    common = dict(features=SMALL, trees=15, seed=7, workflow="autocontext", progress=False)
    one = train_project(folder / "one.ilp", folder / "raw.tif", folder / "labels.tif",
                        threads=1, **common)
    two = train_project(folder / "two.ilp", folder / "raw.tif", folder / "labels.tif",
                        threads=2, **common)
    with h5py.File(one.path, "r") as a, h5py.File(two.path, "r") as b:
        for stage in ("PixelClassification", "PixelClassification01"):
            forest_a = read_vigra_forest(a[f"{stage}/ClassifierForests/Forest0000"])
            forest_b = read_vigra_forest(b[f"{stage}/ClassifierForests/Forest0000"])
            for (top_a, par_a), (top_b, par_b) in zip(forest_a.trees, forest_b.trees):
                np.testing.assert_array_equal(top_a, top_b)
                np.testing.assert_array_equal(par_a, par_b)


def test_retraining_our_project_from_its_stored_labels_gives_the_same_forest(training_images):
    folder, _ = training_images
    first = train_project(folder / "first.ilp", folder / "raw.tif", folder / "labels.tif",
                          label_names="background,cell", features=SMALL, trees=12, seed=5,
                          progress=False)
    again = train_project(folder / "again.ilp", project=first.path, seed=5, progress=False)
    assert again.stages[0].specs == first.stages[0].specs
    assert again.stages[0].forest.tree_count == 12           # the project's forest size
    assert pixelserve.open_project(again.path).label_names == ["background", "cell"]
    for (top_a, par_a), (top_b, par_b) in zip(first.stages[0].forest.trees,
                                              again.stages[0].forest.trees):
        np.testing.assert_array_equal(top_a, top_b)
        np.testing.assert_array_equal(par_a, par_b)


def test_adding_labels_and_a_class_to_our_project(training_images):
    folder, _ = training_images
    labels = tifffile.imread(folder / "labels.tif")
    first_half, second_half = labels.copy(), labels.copy()
    first_half[:, 64:] = 0
    second_half[:, :64] = 0
    second_half[100:104, 100:104] = 3       # a new class
    tifffile.imwrite(folder / "first.tif", first_half)
    tifffile.imwrite(folder / "second.tif", second_half)
    train_project(folder / "a.ilp", folder / "raw.tif", folder / "first.tif",
                  label_names="background,cell", features=SMALL, trees=5, seed=0, progress=False)
    assert main(["train", "--project", f"{folder}/a.ilp", "--labels", f"{folder}/second.tif",
                 "--output", f"{folder}/b.ilp"]) == 0
    expected = np.where(second_half > 0, second_half, first_half)
    np.testing.assert_array_equal(_stored_labels(folder / "b.ilp"), expected)
    project = pixelserve.open_project(folder / "b.ilp")
    assert project.label_names == ["background", "cell", "Label 3"]
    with h5py.File(folder / "b.ilp", "r") as file:
        colors = file["PixelClassification/LabelColors"][()]
        assert colors.shape == (3, 3) and (colors[:2] == [[255, 225, 25], [0, 130, 200]]).all()


def test_several_images_are_lanes(training_images):
    folder, truth = training_images
    other, other_truth = cells_image((96, 140), seed=33)
    tifffile.imwrite(folder / "other.tif", other)
    tifffile.imwrite(folder / "other_labels.tif", scribbles(other_truth, seed=33))
    assert main(["train", "--raw_data", f"{folder}/raw.tif", f"{folder}/other.tif",
                 "--labels", f"{folder}/labels.tif", f"{folder}/other_labels.tif",
                 "--features", SMALL, "--trees", "20", "--seed", "0",
                 "--output", f"{folder}/lanes.ilp"]) == 0
    stored = read_stored_project(folder / "lanes.ilp")
    assert [lane.info.shape for lane in stored.lanes] == [(128, 128, 1), (96, 140, 1)]
    assert [len(labels) for labels in stored.stages[0].labels] == [
        int((tifffile.imread(folder / name) > 0).sum()) for name in ("labels.tif", "other_labels.tif")]
    assert np.mean(_segment(folder, folder / "lanes.ilp") == truth) >= 0.95


def test_hdf5_raw_and_labels_with_internal_paths_and_3d_in_2d(tmp_path):
    image, truth = cells_image((12, 64, 64), seed=4)
    with h5py.File(tmp_path / "volume.h5", "w") as file:
        file["raw/data"] = image
        file["labels/data"] = scribbles(truth, seed=4)
    project = pixelserve.train(f"{tmp_path}/volume.h5/raw/data", f"{tmp_path}/volume.h5/labels/data",
                               tmp_path / "v.ilp", features="gaussian:0.3,1 hessian:1",
                               in_2d=True, trees=10, seed=0, progress=False)
    assert project.input_roles[0].spatial_dims == 3
    with h5py.File(tmp_path / "v.ilp", "r") as file:
        assert file["FeatureSelections/ComputeIn2d"][()].all()
        assert file["Input Data/infos/lane0000/Raw Data/filePath"][()] == b"volume.h5/raw/data"
    result = project.predict(image, axes="zyx")
    assert np.mean(result.argmax(-1) + 1 == truth) >= 0.9


def test_labels_as_an_array_in_the_python_api(training_images):
    folder, truth = training_images
    labels = tifffile.imread(folder / "labels.tif").astype(np.float32)   # Fiji's 32-bit
    project = pixelserve.train(folder / "raw.tif", labels, folder / "array.ilp",
                               label_names=["background", "cell"], features=SMALL, trees=20,
                               seed=0, progress=False)
    image = tifffile.imread(folder / "new.tif")
    segmentation = project.predict(image, axes="yx", export_source="Simple Segmentation")
    assert np.mean(segmentation[..., 0] == truth) >= 0.95


def test_feature_selection_syntax():
    default = choose_features("default", in_2d=True)
    assert len(default) == 37 and default[0].scale == 0.3
    assert all(s.scale >= 0.7 for s in default if s.feature_id != "GaussianSmoothing")
    extra = {(s.feature_id, s.scale) for s in choose_features("all", in_2d=True)} - {
        (s.feature_id, s.scale) for s in default}
    assert extra == {(f, 0.3) for f in ("LaplacianOfGaussian", "GaussianGradientMagnitude",
                                         "DifferenceOfGaussians", "HessianOfGaussianEigenvalues")}
    chosen = choose_features("Hessian:3.5,1 gaussian:0.3; GaussianSmoothing:2", in_2d=False)
    assert [(s.feature_id, s.scale) for s in chosen] == [
        ("GaussianSmoothing", 0.3), ("GaussianSmoothing", 2.0),
        ("HessianOfGaussianEigenvalues", 1.0), ("HessianOfGaussianEigenvalues", 3.5)]
    assert len(choose_features("dog", in_2d=True)) == 6
    assert max(s.scale for s in choose_features("default", in_2d=True, max_scale=3.5)) == 3.5
    assert choose_features({"gs": [1]}, in_2d=True)[0].feature_id == "GaussianSmoothing"


@pytest.mark.parametrize("selection, message", [
    ("sharpness:1", "Unknown feature 'sharpness'"),
    ("gaussian:one", "Cannot read the scales"),
    ("structure:0.3", "cannot be computed at scale 0.3"),
    ("gaussian:-1", "must be positive"),
])
def test_bad_feature_selections_are_explained(selection, message):
    with pytest.raises(pixelserve.UserError, match=message):
        choose_features(selection, in_2d=True)


def test_strokes_and_stage_partition():
    dense = np.zeros((1, 1, 20, 20), np.uint8)
    dense[0, 0, 2, 2:8] = 1         # stroke A (class 1)
    dense[0, 0, 10, 2:8] = 1        # stroke B (class 1)
    dense[0, 0, 2:6, 15] = 2        # stroke C (class 2)
    dense[0, 0, 6:9, 15] = 1        # touches C but another class: stroke D
    dense[0, 0, 15, 15:17] = 2      # stroke E (class 2)
    labels = SparseLabels.from_dense(dense)
    assert len(np.unique(strokes(labels))) == 5
    stage1, stage2 = (s[0] for s in distribute([labels], 2, "partition", seed=0))
    assert len(stage1) + len(stage2) == len(labels)
    assert set(stage1.classes) == set(stage2.classes) == {1, 2}
    in_stage1 = {tuple(c) for c in stage1.coords}
    stroke_of = strokes(labels)
    for stroke in np.unique(stroke_of):   # whole strokes go to one stage
        assert len({tuple(c) in in_stage1 for c in labels.coords[stroke_of == stroke]}) == 1
    copied = distribute([labels], 2, "copy", seed=0)
    assert all(len(stage[0]) == len(labels) for stage in copied)


def _bad_labels(folder, name, array):
    tifffile.imwrite(folder / name, array)
    return str(folder / name)


@pytest.mark.parametrize("labels, names, extra, expected", [
    (np.zeros((128, 128), np.uint8), None, [], "no labelled pixels"),
    (np.pad(np.ones((4, 4), np.uint8), ((0, 124), (0, 124))), None, [], "Only class 1"),
    (np.zeros((64, 64), np.uint8), None, [], "shape"),
    (np.pad(np.array([[1, 3]], np.uint8), ((0, 127), (0, 126))), "a,b", [], "only 2 names"),
    (np.pad(np.array([[1.5, 2]], np.float32), ((0, 127), (0, 126))), None, [], "non-integer"),
    (np.pad(np.array([[1, 300]], np.uint16), ((0, 127), (0, 126))), None, [], "value 300"),
    (np.pad(np.array([[1, 2]], np.uint8), ((0, 127), (0, 126))), None,
     ["--features", "sharpness"], "Unknown feature"),
    (np.pad(np.array([[1, 2]], np.uint8), ((0, 127), (0, 126))), None,
     ["--trees", "0"], "at least one tree"),
])
def test_bad_training_input_is_explained(training_images, capsys, labels, names, extra, expected):
    folder, _ = training_images
    argv = ["train", "--raw_data", f"{folder}/raw.tif", "--labels",
            _bad_labels(folder, "bad_labels.tif", labels), "--trees", "5",
            "--output", f"{folder}/bad.ilp", *extra]
    if names:
        argv += ["--label_names", names]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and "Fix" in err and "Traceback" not in err, err
    assert not (folder / "bad.ilp").exists()
    assert not list(folder.glob("*.part"))


@pytest.mark.parametrize("argv, expected", [
    (["--labels", "labels.tif", "--output", "x.ilp"], "No training image"),
    (["--raw_data", "raw.tif", "--output", "x.ilp"], "No labels given"),
    (["--raw_data", "raw.tif", "--labels", "labels.tif", "labels.tif", "--output", "x.ilp"],
     "2 label images for 1 raw images"),
    (["--raw_data", "raw.tif", "--labels", "labels.tif", "--output", "x.h5"], "should end in .ilp"),
    (["--raw_data", "missing.tif", "--labels", "labels.tif", "--output", "x.ilp"], "not found"),
    (["--project", "missing.ilp", "--output", "x.ilp"], "not found"),
    (["--raw_data", "raw.tif", "--labels", "labels.tif", "--output", "x.ilp",
      "--workflow", "other"], "invalid choice"),
])
def test_bad_command_lines_are_explained(training_images, capsys, monkeypatch, argv, expected):
    folder, _ = training_images
    monkeypatch.chdir(folder)
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err, err


def test_continuing_a_project_as_another_workflow_is_refused(training_images, capsys):
    folder, _ = training_images
    train_project(folder / "p.ilp", folder / "raw.tif", folder / "labels.tif", features=SMALL,
                  trees=5, seed=0, progress=False)
    assert main(["train", "--project", f"{folder}/p.ilp", "--workflow", "autocontext",
                 "--output", f"{folder}/q.ilp"]) == 2
    assert "leave --workflow out" in capsys.readouterr().err


def test_a_missing_training_image_of_a_project_asks_for_raw_data(training_images, capsys):
    folder, _ = training_images
    train_project(folder / "p.ilp", folder / "raw.tif", folder / "labels.tif", features=SMALL,
                  trees=5, seed=0, progress=False)
    (folder / "raw.tif").rename(folder / "moved.tif")
    assert main(["train", "--project", f"{folder}/p.ilp", "--output", f"{folder}/q.ilp"]) == 2
    assert "pass the image with --raw_data" in capsys.readouterr().err
    tifffile.imwrite(folder / "other_size.tif", np.zeros((64, 64), np.uint8))
    assert main(["train", "--project", f"{folder}/p.ilp", "--raw_data",
                 f"{folder}/other_size.tif", "--output", f"{folder}/q.ilp"]) == 2
    assert "the image its labels were drawn on" in capsys.readouterr().err
    assert main(["train", "--project", f"{folder}/p.ilp", "--raw_data", f"{folder}/moved.tif",
                 "--output", f"{folder}/q.ilp"]) == 0
    with h5py.File(folder / "q.ilp", "r") as file:
        assert file["Input Data/infos/lane0000/Raw Data/filePath"][()] == b"moved.tif"
