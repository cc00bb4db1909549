"""Training Object Classification projects (`pixelserve train --workflow object`, the Python
API, the server) and running what they wrote: held-out accuracy on round vs elongated
objects, the project read back as written, retraining an ilastik fixture, ilastik's GUI
reference table, blockwise blocks, the pixel-classification variant, and the server."""

from __future__ import annotations

import csv
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from scipy import ndimage

from conftest import fixtures_dir, require_fixtures, serving, train_project
from objects_fixtures import object_probabilities, with_inputs, write_shapes
from pixelserve import open_project, train
from pixelserve.client import Client, Dataset
from pixelserve.errors import UserError
from pixelserve.objects import catalog
from pixelserve.objects.segmentation import ThresholdSettings, threshold
from pixelserve.project.ilp import open_h5, read_project_file
from pixelserve.project.object_classification import (
    FROM_PIXELS,
    FROM_PREDICTION,
    BlockwiseSettings,
    read_cached_probabilities,
    read_object_classification,
)
from pixelserve.project.object_writer import ObjectProjectRecord, write_object_project
from pixelserve.project.writer import LaneRecord
from pixelserve.synthetic import scribbles
from pixelserve.training.trainer import fit_forest

BIN = Path(sys.executable).parent
NAMES = np.array(["0", "round", "elongated"])


def run(args: list, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "pixelserve", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def read_model(path: Path):
    with open_h5(path) as file:
        return read_object_classification(file, read_project_file(file, Path(path)))


def object_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true objects predicted as their class (by most of their pixels that are
    in an object at all: thresholding may shave off an edge pixel)."""
    objects, count = ndimage.label(truth > 0)
    right = []
    for index in range(1, count + 1):
        inside = objects == index
        found = predicted[inside][predicted[inside] > 0]
        right.append(found.size > 0 and np.bincount(found).argmax() == truth[inside].max())
    return float(np.mean(right))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """A training image with one labelled pixel in 30 of its objects, and a test image."""
    folder = tmp_path_factory.mktemp("shapes")
    write_shapes(folder, {"train": 1, "test": 2})
    truth = np.load(folder / "train_truth.npy")
    objects, count = ndimage.label(truth > 0)
    labels = np.zeros_like(truth)
    for index in np.random.default_rng(0).choice(np.arange(1, count + 1), size=30, replace=False):
        y, x = np.argwhere(objects == index)[len(np.argwhere(objects == index)) // 2]
        labels[y, x] = truth[y, x]
    tifffile.imwrite(folder / "train_labels.tif", labels)
    return folder


@pytest.fixture(scope="module")
def trained(shapes) -> Path:
    answer = run(["train", "--workflow", "object", "--raw_data", "train.tif", "--segmentation_image", "train_seg.tif",
                  "--labels", "train_labels.tif", "--label_names", "round,elongated", "--seed", "0",
                  "--output", "shapes.ilp"], shapes)
    assert answer.returncode == 0, answer.stderr
    assert "Trained 100 trees on 30 labelled objects of 2 classes" in answer.stdout
    return shapes / "shapes.ilp"


def test_a_cli_trained_project_classifies_held_out_objects(shapes, trained):
    answer = run(["--headless", f"--project={trained}", "--raw_data=test.tif", "--segmentation_image=test_seg.tif",
                  "--output_format=tif", "--output_filename_format={dataset_dir}/{nickname}_{result_type}",
                  "--table_filename={dataset_dir}/{nickname}.csv"], shapes)
    assert answer.returncode == 0, answer.stderr
    predicted = tifffile.imread(shapes / "test_Object_Predictions.tif").reshape(320, 320)
    assert object_accuracy(predicted, np.load(shapes / "test_truth.npy")) >= 0.95
    with open(shapes / "test_table.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["Predicted Class"] for row in rows} == {"round", "elongated"}
    assert {"Radii of the object_1", "Convexity", "Size in pixels"} <= set(rows[0])
    model = read_model(trained)
    assert model.workflow_name == "Object Classification (from binary image)" and model.label_names == ("round", "elongated")
    assert sum(int((classes > 0).sum()) for classes in model.label_inputs[0].values()) == 30


def test_two_inputs_with_one_table_file_are_refused_before_computing(shapes, trained, tmp_path):
    """The table of the second image would replace the first's: refused, as images are."""
    answer = run(["--headless", f"--project={trained}", "--raw_data", "train.tif", "test.tif", "--segmentation_image",
                  "train_seg.tif", "test_seg.tif", f"--output_filename_format={tmp_path}/{{nickname}}",
                  f"--table_filename={tmp_path}/objects.csv"], shapes)
    assert answer.returncode == 2
    assert (f"would both be written to {tmp_path / 'objects_table.csv'}: the second result would replace the first. "
            "Fix: put {nickname} into --table_filename ('train' for one, 'test' for the other)") in answer.stderr
    assert not list(tmp_path.iterdir())


def test_prediction_maps_and_a_csv_of_object_labels(shapes, tmp_path):
    """Objects thresholded from probabilities, labelled by a table of (frame, id, class name)."""
    truth = np.load(shapes / "train_truth.npy")
    maps = object_probabilities(truth)
    with h5py.File(tmp_path / "maps.h5", "w") as file:
        file["maps"] = maps
    settings = ThresholdSettings(channel=1, low_threshold=0.5, min_size=5, sigma_zyx=(0.0, 0.0, 0.0))
    objects = threshold(maps[None], settings)[0]
    ids = np.arange(1, objects.max() + 1)[::3]
    classes = [NAMES[np.bincount(truth[objects == i]).argmax()] for i in ids]
    with open(tmp_path / "objects.csv", "w") as file:
        file.write("timestep,labelimage_oid,class\n" + "".join(f"0,{i},{c}\n" for i, c in zip(ids, classes)))
    project = train([str(shapes / "train.tif")], output=tmp_path / "maps.ilp", workflow="object",
                    inputs={"Prediction Maps": [str(tmp_path / "maps.h5/maps")]},
                    object_labels=[str(tmp_path / "objects.csv")], threshold=settings, seed=0,
                    features="Count,Mean,RegionRadii,Convexity,Mean in neighborhood", margin=5)
    model = project.workflow.model
    assert model.threshold == settings and set(model.label_names) == {"round", "elongated"}
    assert model.features[catalog.STANDARD]["Mean in neighborhood"] == (5, 5)
    test = np.load(shapes / "test_truth.npy")
    result = project.run(tifffile.imread(shapes / "test.tif"), "yx",
                         inputs={"Prediction Maps": (object_probabilities(test), "yxc")})
    # the classes are numbered in the order the table names them first
    as_truth = np.array([0] + [list(NAMES).index(name) for name in model.label_names])
    assert object_accuracy(as_truth[result.array[..., 0]], test) >= 0.95


def test_a_written_project_reads_back_as_written(tmp_path):
    rng = np.random.default_rng(0)
    _, forest = fit_forest(rng.random((40, 3)).astype(np.float32), rng.integers(1, 3, 40), n_trees=5, seed=0, threads=1)
    record = ObjectProjectRecord(
        workflow_name=FROM_PREDICTION,
        lanes=[{"Raw Data": LaneRecord(str(tmp_path / "a.h5/raw"), "a-raw", "tzyxc", (2, 5, 40, 30, 1)),
                "Prediction Maps": LaneRecord(str(tmp_path / "a.h5/maps"), "a-maps", "tzyxc", (2, 5, 40, 30, 2))}],
        features={catalog.STANDARD: {"Count": (), "Mean in neighborhood": (4, 4, 2)}, catalog.HULL_3D: {"Convexity": ()}},
        selected_features={catalog.STANDARD: {"Count": (), "Mean in neighborhood": (4, 4, 2)}},
        label_names=["a", "b"], label_colors=np.array([[1, 2, 3], [4, 5, 6]]),
        label_inputs=[{0: np.array([0, 1, 0, 2.0]), 1: np.array([0, 0, 2.0])}], forest=forest,
        threshold=ThresholdSettings(method=1, channel=1, core_channel=0, low_threshold=0.4, high_threshold=0.9,
                                    min_size=3, max_size=999, sigma_zyx=(0.5, 1.5, 2.5)),
        blockwise=BlockwiseSettings((64, 128, 256), (8, 16, 32)))
    model = read_model(write_object_project(tmp_path / "written.ilp", record))
    assert model.workflow_name == FROM_PREDICTION and model.segmentation_role == "Prediction Maps"
    assert model.threshold == record.threshold and model.blockwise == record.blockwise
    assert model.features == record.features and model.selected_features == record.selected_features
    assert model.label_names == ("a", "b") and model.label_colors.tolist() == record.label_colors.tolist()
    assert model.pmap_colors.tolist() == record.label_colors.tolist()
    assert {t: v.tolist() for t, v in model.label_inputs[0].items()} == {0: [0, 1, 0, 2], 1: [0, 0, 2]}
    [stored] = model.forests
    assert stored.labels.tolist() == forest.labels.tolist() and stored.n_features == 3
    for (topology, parameters), (ours, theirs) in zip(stored.trees, forest.trees):
        assert np.array_equal(topology, ours) and np.array_equal(parameters, theirs)
    assert model.known_labels.tolist() == [1, 2] and model.table_settings is None
    assert model.coord_maximum_exclusive
    lane = model.project.lanes[0]
    assert lane["Prediction Maps"].axes == "tzyxc" and lane["Prediction Maps"].shape == (2, 5, 40, 30, 2)


def test_retraining_an_ilastik_project_from_its_labels(test_projects, tmp_path):
    projects = with_inputs(test_projects)
    name = "ObjectClassification2d_wPred.ilp"
    answer = run(["train", "--project", name, "--seed", "0", "--output", tmp_path / "retrained.ilp"], projects)
    assert answer.returncode == 0, answer.stderr
    project = open_project(tmp_path / "retrained.ilp")
    model = project.workflow.model
    assert model.threshold == read_model(projects / name).threshold and model.coord_maximum_exclusive
    lane = model.project.lanes[0]
    raw = h5py.File(fixtures_dir() / "inputdata/2d.h5")["data"][()]
    maps = h5py.File(fixtures_dir() / "inputdata/2d_Probabilities.h5")["exported_data"][()]
    assert lane["Raw Data"].shape[:2] == raw.shape
    table = project.run(raw, "yx", inputs={"Prediction Maps": (maps, "yxc")}, image_wanted=False).tables["objects"]
    with open_h5(projects / name) as file:
        cached = read_cached_probabilities(file, 0, 0)[1:]
    agree = table.columns["Predicted Class"] == np.array(project.label_names)[cached.argmax(axis=1)]
    assert len(agree) == 109 and agree.mean() >= 0.9, agree.mean()


def test_blockwise_objects_inside_a_block_keep_their_class(trained, shapes, tmp_path):
    """With features that depend on neither position nor the frame's intensity range, an
    object inside one block gets exactly the whole-image class; cut objects get a class per
    part."""
    path = tmp_path / "blocks.ilp"
    path.write_bytes(trained.read_bytes())
    with h5py.File(path, "a") as file:
        for name, size in (("BlockShape3dDict", 96), ("HaloPadding3dDict", 8)):
            for axis in "xy":
                file[f"Blockwise Object Classification/{name}/{axis}"][()] = size
    project = open_project(path)
    image = tifffile.imread(shapes / "test.tif")
    segmentation = tifffile.imread(shapes / "test_seg.tif")
    whole = project.run(image, "yx", inputs={"Segmentation Image": (segmentation, "yx")}, tables=False).array[..., 0]
    blockwise = project.run(image, "yx", inputs={"Segmentation Image": (segmentation, "yx")},
                            export_source="Blockwise Object Predictions", tables=False).array[..., 0]
    assert ((blockwise > 0) == (segmentation > 0)).all()
    objects, count = ndimage.label(segmentation)
    inside = [i for i, box in enumerate(ndimage.find_objects(objects), start=1)
              if all(s.start // 96 == (s.stop - 1) // 96 for s in box)]
    assert len(inside) >= 0.6 * count
    for index in inside:
        assert np.array_equal(blockwise[objects == index], whole[objects == index]), index


def test_the_gui_reference_table(tmp_path):
    """ilastik's GUI test settings (testObjectClassificationGui.py), trained here on its four
    labelled objects: our CSV has the reference CSV's columns, and every feature prints as
    ilastik printed it."""
    folder = require_fixtures()
    with zipfile.ZipFile(folder / "testObjectClassificationGuiReference.zip") as archive:
        archive.extractall(tmp_path)
    with open(tmp_path / "testObjectClassificationGuiReference" / "table-test_data_table.csv") as file:
        reference = list(csv.reader(file))
    (tmp_path / "labels.csv").write_text("0,1,Label 1\n0,2,Label 2\n0,14,Label 2\n0,21,Label 2\n")
    inputs = folder / "inputdata"
    train([str(inputs / "3d.h5/data")], output=tmp_path / "gui.ilp", workflow="object",
          inputs={"Prediction Maps": [str(inputs / "3d_Probabilities.h5/exported_data")]},
          object_labels=[str(tmp_path / "labels.csv")], features="all", margin=3, seed=0,
          threshold=ThresholdSettings(low_threshold=0.7, min_size=10, sigma_zyx=(1.9, 2.1, 2.0)))
    answer = run(["--headless", f"--project={tmp_path / 'gui.ilp'}", f"--raw_data={inputs / '3d.h5/data'}",
                  f"--prediction_maps={inputs / '3d_Probabilities.h5/exported_data'}", "--table_only",
                  f"--table_filename={tmp_path}/table-test_data.csv"], tmp_path)
    assert answer.returncode == 0, answer.stderr
    with open(tmp_path / "table-test_data_table.csv") as file:
        ours = list(csv.reader(file))
    header = reference[0]
    external = {name for name in header if name.startswith(("Spherical Texture", "Polarization Direction"))}
    assert ours[0][:7] == header[:7] and set(ours[0]) == set(header) - external
    assert len(ours) == len(reference) == 23
    compared = 0
    for column in header[7:]:
        if column in external:
            continue
        theirs = [row[header.index(column)] for row in reference[1:]]
        mine = [row[ours[0].index(column)] for row in ours[1:]]
        # one eigenvector component is zero up to 2e-15 and prints differently
        differ = [(a, b) for a, b in zip(mine, theirs) if a != b and abs(float(b)) > 1e-12]
        assert not differ, (column, differ[:3])
        compared += len(theirs)
    assert compared == 22 * (len(header) - 7 - len(external))
    labelled = {1: "Label 1", 2: "Label 2", 14: "Label 2", 21: "Label 2"}
    predicted = {int(row[2]): row[4] for row in ours[1:]}
    assert all(predicted[oid] == name for oid, name in labelled.items())
    # the HDF5 variant, with the crops of the GUI's table export (margin 3, as the reference)
    with h5py.File(tmp_path / "gui.ilp", "a") as file:
        del file["ObjectClassification/ExportSettings"]
        file["ObjectClassification/ExportSettings"] = np.void(pickle.dumps(
            ({"file type": "h5", "file path": str(tmp_path / "gui.h5"), "margin": 3, "include raw": False,
              "normalize": True, "compression": {}}, None), 0))
    answer = run(["--headless", f"--project={tmp_path / 'gui.ilp'}", f"--raw_data={inputs / '3d.h5/data'}",
                  f"--prediction_maps={inputs / '3d_Probabilities.h5/exported_data'}", "--table_only"], tmp_path)
    assert answer.returncode == 0, answer.stderr
    with h5py.File(tmp_path / "gui.h5") as ours, \
            h5py.File(tmp_path / "testObjectClassificationGuiReference" / "table-test_data.h5") as theirs:
        assert ours["table"].shape == theirs["table"].shape == (22,)
        assert sorted(ours["images"]) == sorted(theirs["images"])
        for row in theirs["images"]:
            for kind in ("labeling", "raw"):
                mine, reference = ours[f"images/{row}/{kind}"], theirs[f"images/{row}/{kind}"]
                assert mine.dtype == reference.dtype and dict(mine.attrs) == dict(reference.attrs), (row, kind)
                np.testing.assert_array_equal(mine[()], reference[()])


def test_the_pixel_classification_variant(shapes, tmp_path):
    """PC+OC: the project's own pixel classifier finds the objects. Its results equal those of
    the pixel project and of the prediction-map project it combines."""
    image = tifffile.imread(shapes / "train.tif")
    truth = np.load(shapes / "train_truth.npy")
    pixel_path = train_project(tmp_path / "pixels.ilp", image, scribbles((truth > 0) + 1, seed=1), "yx",
                               scales=(1.0, 3.5))
    pixels = open_project(pixel_path)
    maps = pixels.predict(image, "yx")
    with h5py.File(tmp_path / "maps.h5", "w") as file:
        file["maps"] = maps
    objects = train([str(shapes / "train.tif")], [str(shapes / "train_labels.tif")], tmp_path / "objects.ilp",
                    workflow="object", inputs={"Prediction Maps": [str(tmp_path / "maps.h5/maps")]}, seed=0,
                    threshold=ThresholdSettings(channel=1))
    combined = tmp_path / "combined.ilp"
    combined.write_bytes((tmp_path / "objects.ilp").read_bytes())
    with h5py.File(combined, "a") as file, h5py.File(pixel_path, "r") as source:
        for group in ("FeatureSelections", "PixelClassification"):
            source.copy(group, file)
        del file["workflowName"], file["Input Data/Role Names"], file["Input Data/infos/lane0000/Prediction Maps"]
        file["workflowName"] = FROM_PIXELS.encode()
        file["Input Data/Role Names"] = [b"Raw Data"]
    project = open_project(combined)
    assert [role.name for role in project.input_roles] == ["Raw Data"]
    assert project.export_sources[-2:] == ["Pixel Probabilities", "Simple Segmentation"]
    test = tifffile.imread(shapes / "test.tif")
    test_maps = pixels.predict(test, "yx")
    np.testing.assert_array_equal(project.predict(test, "yx", export_source="Pixel Probabilities"), test_maps)
    np.testing.assert_array_equal(project.predict(test, "yx", export_source="Simple Segmentation"),
                                  pixels.predict(test, "yx", export_source="Simple Segmentation"))
    ours = project.run(test, "yx")
    expected = objects.run(test, "yx", inputs={"Prediction Maps": (test_maps, "yxc")})
    np.testing.assert_array_equal(ours.array, expected.array)
    assert ours.tables["objects"].rows == expected.tables["objects"].rows > 50
    assert object_accuracy(ours.array[..., 0], np.load(shapes / "test_truth.npy")) >= 0.8


def test_training_refuses_bad_input_in_one_sentence(shapes, tmp_path, monkeypatch):
    for args, expected in (
            (["--raw_data", "train.tif", "--labels", "train_labels.tif", "--threshold", "0.4"],
             "Object Classification option"),
            (["--workflow", "object", "--raw_data", "train.tif", "--segmentation_image", "train_seg.tif"],
             "No object is labelled")):
        answer = run(["train", *args, "--output", tmp_path / "x.ilp"], shapes)
        lines = [line for line in answer.stderr.splitlines() if line.strip()]
        assert answer.returncode == 2 and len(lines) == 1, answer.stderr
        assert expected in lines[0] and "Fix" in lines[0], lines[0]
    (tmp_path / "bad.csv").write_text("timestep,object_id,class\n0,1,1\n")
    (tmp_path / "far.csv").write_text("0,999,1\n0,1,2\n")
    monkeypatch.chdir(shapes)
    segmentation = {"Segmentation Image": ["train_seg.tif"]}
    for given, expected in (
            (dict(labels=["train_labels.tif"]), "No objects given"),
            (dict(inputs=segmentation, object_labels=[tmp_path / "bad.csv"]), "labelimage_oid"),
            (dict(inputs=segmentation, object_labels=[tmp_path / "far.csv"]), "labels name object 999"),
            (dict(inputs=segmentation, labels=["train_labels.tif"], features="Count,Roundness"),
             "'Roundness' is not an object feature"),
            (dict(inputs={"Prediction Maps": ["a.h5"], "Segmentation Image": ["b.tif"]}),
             "Both Prediction Maps and Segmentation Image")):
        with pytest.raises(UserError, match=expected) as error:
            train(["train.tif"], output=tmp_path / "x.ilp", workflow="object", **given)
        assert "Fix" in str(error.value)
    assert not (tmp_path / "x.ilp").exists()


# --- the server ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(shapes):
    with serving(shapes) as address:
        yield address


def test_the_server_predicts_and_retrains(served, shapes, trained):
    image = tifffile.imread(shapes / "test.tif")
    segmentation = tifffile.imread(shapes / "test_seg.tif")
    local = open_project(trained).run(image, "yx", inputs={"Segmentation Image": (segmentation, "yx")})
    with Client(served) as client:
        info = client.project_info(str(trained))
        assert info.title == "Object Classification" and list(info.tables) == ["objects"]
        remote = client.predict(str(trained), image, "yx", inputs={"Segmentation Image": (segmentation, "yx")},
                                tables=True)
        np.testing.assert_array_equal(remote.array, local.array)
        assert remote.label_colors == local.label_colors
        for name, column in local.tables["objects"].columns.items():
            np.testing.assert_array_equal(remote.tables["objects"].columns[name], column)
        # new labels on the stored lane (the last object of each class): no protocol change needed
        truth = np.load(shapes / "train_truth.npy")
        objects = ndimage.label(truth > 0)[0]
        more = np.zeros_like(truth)
        new = {}
        for value in (1, 2):
            y, x = np.argwhere(truth == value)[-1]
            more[y, x] = value
            new[int(objects[y, x])] = value
        tifffile.imwrite(shapes / "more_labels.tif", more)
        retrained = client.train(str(shapes / "served.ilp"), [(None, Dataset(str(shapes / "more_labels.tif")))],
                                 project=str(trained), seed=1)
        assert retrained.title == "Object Classification"
    stored = read_model(shapes / "served.ilp").label_inputs[0][0]
    assert all(stored[object_id] == value for object_id, value in new.items())
    assert (stored > 0).sum() >= 30
