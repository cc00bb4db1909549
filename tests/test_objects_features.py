"""Object features against ilastik's: every cached array of the fixtures, and the GUI reference CSV."""

from __future__ import annotations

import csv
import zipfile

import numpy as np
import pytest

from conftest import fixtures_dir, require_fixtures
from objects_fixtures import PREDICTION_PROJECTS, SEGMENTATION_PROJECTS, open_project
from pixelserve.errors import ProjectError, UserError
from pixelserve.io.dataset import open_dataset
from pixelserve.objects import catalog
from pixelserve.objects.features import compute_object_features
from pixelserve.objects.segmentation import ThresholdSettings, threshold
from pixelserve.objects.table import object_table
from pixelserve.project.object_classification import read_region_features


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
    with np.errstate(invalid="ignore"):
        error = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-6)
    return np.where(np.isnan(ours) & np.isnan(theirs), 0.0, error)   # NaN where both are NaN is equal


@pytest.mark.parametrize("name", PREDICTION_PROJECTS + SEGMENTATION_PROJECTS)
def test_every_cached_feature_equals_ours(test_projects, name):
    project = open_project(test_projects, name)
    model = project.model
    for t in range(project.raw.time_points):
        raw, labels = project.frame(t)
        ours = compute_object_features(raw, labels, model.features,
                                       coord_maximum_exclusive=model.coord_maximum_exclusive)
        theirs = read_region_features(project.file, 0, t)
        assert set(ours) == set(theirs)
        for plugin, features in theirs.items():
            assert set(ours[plugin]) == set(features), (plugin, t)
            for feature, cached in features.items():
                value = ours[plugin][feature]
                assert value.dtype == np.float32 and value.shape == cached.shape, (plugin, feature)
                error = relative_error(value, cached)
                if feature == "DefectCenter":
                    # without defects vigra returns uninitialised memory (stale values of an
                    # earlier object); ours is NaN there
                    no_defects = features["DefectCount"][:, 0] == 0
                    no_defects[0] = False
                    assert np.isnan(value[no_defects]).all()
                    error[no_defects] = 0
                assert error.max() <= 1e-6, (name, t, plugin, feature, np.argwhere(error > 1e-6)[:3])


@pytest.fixture(scope="module")
def gui_reference(tmp_path_factory):
    """ilastik's GUI test (tests/test_ilastik/test_workflows/testObjectClassificationGui.py):
    3d.h5 with 3d_Probabilities.h5, sigma x 2.0, y 2.1, z 1.9, simple threshold 0.7 on
    channel 0, min size 10, every non-advanced feature, margin (3, 3, 3); ilastik 1.4."""
    folder = require_fixtures()
    target = tmp_path_factory.mktemp("gui_reference")
    with zipfile.ZipFile(folder / "testObjectClassificationGuiReference.zip") as archive:
        archive.extractall(target)
    with open(target / "testObjectClassificationGuiReference" / "table-test_data_table.csv") as file:
        rows = list(csv.reader(file))
    inputs = fixtures_dir() / "inputdata"
    raw = open_dataset(str(inputs / "3d.h5/data")).read((slice(None),) * 3)[..., None]
    probabilities = open_dataset(str(inputs / "3d_Probabilities.h5/exported_data")).read((slice(None),) * 4)
    labels = threshold(probabilities, ThresholdSettings(low_threshold=0.7, sigma_zyx=(1.9, 2.1, 2.0)))
    selection = {catalog.STANDARD: {name: (3, 3, 3) if catalog.local_base(name) else ()
                                    for name in catalog.standard_features(1)},
                 catalog.HULL_3D: {name: () for name in catalog.HULL_FEATURES}}
    features = compute_object_features(raw, labels, selection, coord_maximum_exclusive=True)
    return rows[0], np.array(rows[1:]), features, selection


def test_gui_reference_csv_features(gui_reference):
    header, values, features, selection = gui_reference
    assert values.shape[0] == 22 and features[catalog.DEFAULT]["Count"].shape == (23, 1)
    external = [name for name in header if name.startswith(("Spherical Texture", "Polarization Direction"))]
    columns = object_table([features], selection)
    ours = {name: column for name, column in columns.items() if name not in ("object_id", "timestep",
                                                                           "labelimage_oid", "User Label")}
    assert set(ours) == set(header[7:]) - set(external)
    compared = 0
    for name, column in ours.items():
        printed = values[:, header.index(name)].astype(np.float32)
        assert column.dtype == np.float32
        # equal to the printed float32; one eigenvector component that is zero up to 2e-15
        # differs in its last bits
        tiny = np.abs(printed) < 1e-12
        assert np.array_equal(column[~tiny], printed[~tiny]), name
        assert np.abs(column[tiny] - printed[tiny]).max(initial=0) < 1e-12, name
        compared += column.size
    assert compared == 22 * (len(header) - 7 - len(external))


def test_gui_reference_table_columns(gui_reference):
    """With the CSV's probabilities and user labels, our table has the CSV's columns."""
    header, values, features, selection = gui_reference
    probabilities = np.zeros((23, 2), dtype=np.float32)
    probabilities[1:] = values[:, 5:7].astype(np.float32)
    names = ("Label 1", "Label 2")
    user = np.zeros(23)
    user[1:] = [names.index(label) + 1 if label != "0" else 0 for label in values[:, 3]]
    columns = object_table([features], selection, label_names=names, user_labels=[user],
                           probabilities=[probabilities])
    external = {name for name in header if name.startswith(("Spherical Texture", "Polarization Direction"))}
    assert list(columns)[:7] == header[:7]
    assert set(columns) == set(header) - external
    for index in range(5):   # ids, frame, labels and predicted classes as the CSV prints them
        assert [str(v) for v in columns[header[index]]] == values[:, index].tolist(), header[index]


def test_threads_give_identical_results(test_projects):
    project = open_project(test_projects, "ObjectClassification2d_wPred.ilp")
    raw, labels = project.frame(0)
    one = compute_object_features(raw, labels, project.model.features, threads=1)
    three = compute_object_features(raw, labels, project.model.features, threads=3)
    for plugin in one:
        for name in one[plugin]:
            assert np.array_equal(one[plugin][name], three[plugin][name], equal_nan=True), name


def test_zero_objects_give_empty_features():
    raw = np.random.default_rng(0).random((1, 20, 30, 1)).astype(np.float32)
    labels = np.zeros((1, 20, 30), dtype=np.uint32)
    selection = {catalog.STANDARD: {name: (5, 5) if catalog.local_base(name) else ()
                                    for name in catalog.standard_features(1)},
                 catalog.HULL_2D: {name: () for name in catalog.HULL_FEATURES}}
    features = compute_object_features(raw, labels, selection)
    for plugin, values in features.items():
        for name, value in values.items():
            assert value.shape[0] == 1 and not value.any(), (plugin, name)
    assert features[catalog.STANDARD]["Histogram"].shape == (1, 64)
    assert object_table([features], selection)["Size in pixels"].size == 0


def test_bounding_box_maximum_follows_the_ilastik_version():
    labels = np.zeros((1, 6, 8), dtype=np.uint32)
    labels[0, 2:4, 1:6] = 1
    raw = np.ones(labels.shape, dtype=np.float32)
    old = compute_object_features(raw, labels, {}, coord_maximum_exclusive=False)[catalog.DEFAULT]
    new = compute_object_features(raw, labels, {}, coord_maximum_exclusive=True)[catalog.DEFAULT]
    assert old["Coord<Minimum>"][1].tolist() == [1, 2] and old["Coord<Maximum>"][1].tolist() == [5, 3]
    assert new["Coord<Maximum>"][1].tolist() == [6, 4]   # x, y order
    assert new["RegionCenter"][1].tolist() == [3, 2.5] and new["Count"][1].tolist() == [10]


def test_bad_inputs_say_what_to_fix():
    raw = np.zeros((1, 5, 5, 2), dtype=np.float32)
    labels = np.ones((1, 5, 5), dtype=np.uint32)
    with pytest.raises(UserError, match="integers"):
        compute_object_features(raw, labels.astype(np.float32), {})
    with pytest.raises(UserError, match="same size"):
        compute_object_features(raw, labels[:, :4], {})
    with pytest.raises(UserError, match="single-channel"):
        compute_object_features(raw, labels, {catalog.STANDARD: {"Histogram": ()}})
    with pytest.raises(UserError, match="3D images"):
        compute_object_features(raw, labels, {catalog.HULL_3D: {"HullVolume": ()}})
    with pytest.raises(ProjectError, match="built-in plugins"):
        compute_object_features(raw, labels, {"Spherical Texture": {"Spherical Texture": ()}})
    with pytest.raises(ProjectError, match="advanced"):
        compute_object_features(raw, labels, {catalog.STANDARD: {"Central<PowerSum<3> >": ()}})
    with pytest.raises(ProjectError, match="neighbourhood size"):
        compute_object_features(raw, labels, {catalog.STANDARD: {"Mean in neighborhood": (0, 0)}})
