"""Reading Boundary-based Segmentation with Multicut projects (2018 layout, current layout)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from multicut_helpers import legacy_project
from pixelserve.errors import ProjectError
from pixelserve.multicut.superpixels import LegacyWatershedSettings, WatershedSettings
from pixelserve.project.ilp import open_h5, read_project_file
from pixelserve.project.multicut import read_frame, read_multicut, read_watershed_settings


def test_2018_project_settings(test_projects):
    model, superpixels, stored = legacy_project(test_projects, "3d2c")
    assert model.watershed == LegacyWatershedSettings(
        channels=(1,), pmin=0.5, min_membrane_size=0, min_segment_size=0, sigma_minima=3.0,
        sigma_weights=0.0, group_seeds=False, preserve_membrane_pmaps=True)
    assert model.train_random_forest   # absent in 2018 files: ilastik's default
    assert (model.beta, model.solver_name, model.probability_threshold) == (
        0.5, "Nifty_FmGreedy", 0.5)
    assert not model.widen_edge_histogram
    assert len(model.classifier.forests) == 8
    assert sum(f.tree_count for f in model.classifier.forests) == 100
    assert model.classifier.known_labels == (1, 2)
    assert len(model.classifier.feature_names) == 135
    assert model.feature_names["Raw Data-1"][:2] == ("standard_edge_count",
                                                      "standard_edge_kurtosis")
    assert model.edge_labels[0].sp_ids.shape == (7, 2)
    np.testing.assert_array_equal(model.edge_labels[0].labels, [2, 2, 1, 1, 2, 2, 2])
    assert superpixels.shape == (50, 60, 55) and superpixels.dtype == np.uint32
    assert stored.values.shape == (319, 135)
    assert model.project.role_names == ["Raw Data", "Probabilities", "Superpixels", "Groundtruth"]


def test_current_watershed_keys_and_defaults(tmp_path):
    with h5py.File(tmp_path / "settings.h5", "w") as file:
        group = file.create_group("DT Watershed")
        group["ChannelSelections"] = np.array([0, 2])
        group["Threshold"] = 0.6
        group["MinSize"] = 7
        group["Sigma"] = 1.1
        group["Alpha"] = 0.4
        group["PixelPitch"] = np.array([2.0, 1.0, 1.0])
        group["BlockwiseWatershed"] = True
        settings = read_watershed_settings(group)
        assert settings == WatershedSettings(channels=(0, 2), threshold=0.6, min_size=7,
                                             sigma=1.1, alpha=0.4, pixel_pitch=(2.0, 1.0, 1.0),
                                             blockwise=True)
        del group["BlockwiseWatershed"], group["PixelPitch"]
        settings = read_watershed_settings(group)
        assert not settings.blockwise and settings.pixel_pitch == ()
        group["ChannelSelections"].attrs["isEmpty"] = True
        with pytest.raises(ProjectError, match="no probability channel"):
            read_watershed_settings(group)


def test_a_pixel_classification_project_is_refused(api_projects):
    path = api_projects / "PixelClass.ilp"
    with open_h5(path) as file, pytest.raises(ProjectError, match="Edge Training With Multicut"):
        read_multicut(file, read_project_file(file, path))


def test_frames_are_parsed_without_evaluating_code(tmp_path):
    with h5py.File(tmp_path / "frame.h5", "w") as file:
        good = file.create_group("good")
        good["column_index"] = "array(['sp1', 'sp2',\n       'Raw Data standard_edge_mean'], dtype=object)"
        for index in range(3):
            good[f"columns/{index:03d}"] = np.arange(3) + index
        names, columns = read_frame(good)
        assert names == ["sp1", "sp2", "Raw Data standard_edge_mean"]
        np.testing.assert_array_equal(columns[2], [2, 3, 4])
        bad = file.create_group("bad")
        bad["column_index"] = "array([__import__('os').system('true')], dtype=object)"
        with pytest.raises(ProjectError, match="unreadable column index"):
            read_frame(bad)
