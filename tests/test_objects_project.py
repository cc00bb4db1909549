"""Reading Object Classification projects: every fixture, legacy keys, pickles left alone."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest

from objects_fixtures import LABEL_PROJECT, PREDICTION_PROJECTS, SEGMENTATION_PROJECTS
from pixelserve.errors import ProjectError
from pixelserve.objects.segmentation import ThresholdSettings
from pixelserve.project.ilp import open_h5, read_project_file
from pixelserve.project.object_classification import (
    FROM_BINARY,
    FROM_LABELS,
    FROM_PREDICTION,
    BlockwiseSettings,
    coord_maximum_exclusive,
    read_cached_probabilities,
    read_object_classification,
    read_region_features,
    read_relabel_data,
    read_stored_label_image,
    read_threshold_settings,
)


def read(path):
    file = open_h5(path)
    return file, read_object_classification(file, read_project_file(file, path))


@pytest.mark.parametrize("name", PREDICTION_PROJECTS + SEGMENTATION_PROJECTS + [LABEL_PROJECT])
def test_every_fixture_reads(test_projects, name):
    file, model = read(test_projects / name)
    with file:
        role = {"Pre": "Prediction Maps", "Seg": "Segmentation Image", "Lab": "Label Image"}
        assert model.segmentation_role == role[name.split("_w")[1][:3]]
        assert model.workflow_name == {"Prediction Maps": FROM_PREDICTION, "Segmentation Image": FROM_BINARY,
                                       "Label Image": FROM_LABELS}[model.segmentation_role]
        assert model.label_names == ("Label 1", "Label 2")
        assert model.label_colors.shape == (2, 3)
        assert model.blockwise == BlockwiseSettings((512, 512, 512), (64, 64, 64))
        assert model.export_group == "Object Information Export"
        assert not model.table_settings_ignored  # every fixture stores the (None, None) pickle
        assert model.coord_maximum_exclusive == (name == LABEL_PROJECT)  # 1.2.2 vs 1.4.2
        standard = model.features["Standard Object Features"]
        assert {"Count", "Mean in neighborhood", "RegionAxes"} <= set(standard)
        assert standard["Mean in neighborhood"] in ((30, 30), (30, 30, 1))
        assert standard["Count"] == ()
        assert model.selected_features == model.features
        # the label-less _wSeg projects have no forest; all others one with classes 1, 2
        assert model.has_classifier == ("wSeg" not in name)
        if model.has_classifier:
            assert len(model.forests) == 1 and model.known_labels.tolist() == [1, 2]
        assert len(model.label_inputs) == 1


def test_threshold_settings_of_a_fixture(test_projects):
    file, model = read(test_projects / "ObjectClassification5t3d2c_wPred.ilp")
    with file:
        assert model.threshold == ThresholdSettings(method=0, channel=0, core_channel=0, low_threshold=0.7,
                                                    high_threshold=0.5, min_size=50, max_size=1_000_000,
                                                    sigma_zyx=(1.0, 1.0, 1.0))
        assert sorted(model.label_inputs[0]) == [0, 1, 2, 3, 4]
        assert model.label_inputs[0][0].dtype == np.float64


def test_caches_read_for_verification(test_projects):
    file, model = read(test_projects / "ObjectClassification5t3d2c_wPred.ilp")
    with file:
        labels = read_stored_label_image(file, 0, 3)
        assert labels.shape == (33, 77, 45) and labels.dtype == np.uint32   # zyx from txyzc blocks
        assert labels.max() == 14
        features = read_region_features(file, 0, 3)
        assert features["Default features"]["Count"].shape == (15, 1)
        assert read_cached_probabilities(file, 0, 3).shape == (15, 2)
        assert read_region_features(file, 0, 5) is None
    file, model = read(test_projects / LABEL_PROJECT)
    with file:
        image, id_map = read_relabel_data(file, 0, 0)
        assert image.shape == (1, 73, 187) and id_map.tolist() == [[k, k] for k in range(13)]
        assert read_stored_label_image(file, 0, 0) is None


def test_versions_with_exclusive_bounding_box_maximum():
    assert not coord_maximum_exclusive("1.2.2rc4")
    assert not coord_maximum_exclusive("1.3.3post1")
    assert coord_maximum_exclusive("1.3.3post3")
    assert coord_maximum_exclusive("1.4.0")
    assert coord_maximum_exclusive("1.4.2a2.dev17+g7d0b5a7c6")


def make_project(path, fill):
    with h5py.File(path, "w") as file:
        file["workflowName"] = FROM_PREDICTION.encode()
        file["ilastikVersion"] = b"1.3.3"
        fill(file)
    return path


def test_legacy_threshold_keys_and_defaults(tmp_path):
    def fill(file):
        group = file.create_group("ThresholdTwoLevels")
        group["CurOperator"] = np.int32(0)
        group["LowThreshold"] = 0.2
        group["SingleThreshold"] = 0.35   # ilastik < 1.2 kept the simple threshold here
        group["Channel"] = np.int32(2)
        group["SmootherSigma/z"] = 0.5

    with h5py.File(make_project(tmp_path / "old.ilp", fill), "r") as file:
        settings = read_threshold_settings(file)
    assert settings == ThresholdSettings(method=0, channel=2, core_channel=2, low_threshold=0.35,
                                         sigma_zyx=(0.5, 1.0, 1.0))


def test_garbage_label_names_and_pickled_table_settings(tmp_path, caplog):
    def fill(file):
        group = file.create_group("ObjectClassification")
        group["LabelNames"] = np.array([6.9e-310])   # how ilastik 1.3 stored an empty list
        group["ExportSettings"] = b"(dp0\nS'file path'\np1\nS'/x.csv'\np2\ns(lp3\ntp4\n."

    with caplog.at_level(logging.INFO, logger="pixelserve.project.object_classification"):
        file, model = read(make_project(tmp_path / "garbage.ilp", fill))
    file.close()
    assert model.label_names == () and not model.has_classifier
    assert model.table_settings_ignored
    assert "never unpickles" in caplog.text


def test_selected_features_must_be_computed(tmp_path):
    def fill(file):
        file.create_group("ObjectExtraction/Features/Standard Object Features/Count")
        file.create_group("ObjectClassification/SelectedFeatures/Standard Object Features/Mean")

    with pytest.raises(ProjectError, match="does not compute"):
        read(make_project(tmp_path / "inconsistent.ilp", fill))


def test_other_workflows_are_refused(test_projects):
    with pytest.raises(ProjectError, match="not an Object Classification project"):
        read(test_projects / "PixelClassification2d.ilp")
