"""Object prediction and the object table against ilastik's cached probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from objects_fixtures import PREDICTION_PROJECTS, open_project
from pixelserve.classifiers import ForestEnsemble
from pixelserve.errors import ProjectError
from pixelserve.objects import catalog
from pixelserve.objects.classify import feature_matrix, predict_objects, predicted_classes
from pixelserve.objects.features import compute_object_features
from pixelserve.objects.table import object_table
from pixelserve.project.object_classification import read_cached_probabilities


def predicted_lane(project):
    """Per frame: (our features, probabilities, classes)."""
    model = project.model
    ensemble = ForestEnsemble(list(model.forests))
    frames = []
    for t in range(project.raw.time_points):
        raw, labels = project.frame(t)
        features = compute_object_features(raw, labels, model.features,
                                           coord_maximum_exclusive=model.coord_maximum_exclusive)
        matrix = feature_matrix(features, model.selected_features)
        assert matrix.dtype == np.float32 and matrix.shape == (labels.max() + 1, ensemble.n_features)
        frames.append((features, *predict_objects(ensemble, matrix, model.known_labels, model.n_classes)))
    return frames


@pytest.mark.parametrize("name", PREDICTION_PROJECTS)
def test_probabilities_equal_ilastiks(test_projects, name):
    project = open_project(test_projects, name)
    for t, (_, probabilities, classes) in enumerate(predicted_lane(project)):
        cached = read_cached_probabilities(project.file, 0, t)
        assert probabilities.shape == cached.shape and probabilities.dtype == np.float32
        assert np.abs(probabilities - cached).max() <= 1e-6
        assert classes[0] == 0 and not probabilities[0].any()
        assert np.array_equal(classes[1:], 1 + np.argmax(cached[1:], axis=1))


def test_time_series_table(test_projects):
    project = open_project(test_projects, "ObjectClassification5t2d1c_wPred.ilp")
    model = project.model
    frames = predicted_lane(project)
    features, probabilities, _ = zip(*frames)
    columns = object_table(features, model.features, label_names=model.label_names,
                           user_labels=[model.label_inputs[0].get(t) for t in range(len(frames))],
                           probabilities=probabilities)
    counts = [f[catalog.DEFAULT]["Count"].shape[0] - 1 for f in features]
    assert counts == [5, 4, 5, 5, 5]
    assert columns["object_id"].tolist() == list(range(24))
    assert columns["timestep"].tolist() == sum(([t] * n for t, n in enumerate(counts)), [])
    assert columns["labelimage_oid"].tolist()[:7] == [1, 2, 3, 4, 5, 1, 2]
    # LabelInputs of frame 0 is [0, 2, 0, 1]: objects 1 and 3 labelled, 4 and 5 beyond its end
    assert columns["User Label"].tolist()[:5] == ["Label 2", "0", "Label 1", "0", "0"]
    cached = np.concatenate([read_cached_probabilities(project.file, 0, t)[1:] for t in range(5)])
    assert np.abs(columns["Probability of Label 2"] - cached[:, 1]).max() <= 1e-6
    names = np.array(model.label_names)
    assert np.array_equal(columns["Predicted Class"], names[np.argmax(cached, axis=1)])
    titles = list(columns)
    assert titles[:7] == ["object_id", "timestep", "labelimage_oid", "User Label", "Predicted Class",
                          "Probability of Label 1", "Probability of Label 2"]
    # display names, _i suffixes only for multi-column features, defaults once, no
    # "in object and neighborhood" (computed, but not selected)
    for title in ("Size in pixels", "Bounding Box Minimum_0", "Bounding Box Maximum_1",
                  "Center of the object_1", "Histogram of Intensity in neighborhood_63", "Convexity",
                  "Number of Branches",
                  "Quantiles of Intensity_6", "Principal components of the object_3"):
        assert title in titles, title
    assert len(titles) == len(set(titles))
    assert not any("object and neighborhood" in title or title == "Count" for title in titles)
    assert all(columns[title].dtype == np.float32 for title in titles[7:])


def test_feature_order_is_ilastiks():
    """Plugins sorted, then feature names sorted; selected only; background row kept; NaN -> 0."""
    features = {
        "Standard Object Features": {"Mean": np.array([[0], [1], [2]], np.float32),
                                     "Count": np.array([[0], [10], [20]], np.float32),
                                     "Skewness": np.array([[0], [np.nan], [np.inf]], np.float32)},
        "2D Convex Hull Features": {"HullCenter": np.array([[0, 0], [5, 6], [7, 8]], np.float32)},
        catalog.DEFAULT: {"Count": np.array([[0], [10], [20]], np.float32)},
    }
    selected = {"Standard Object Features": {"Mean": (), "Count": (), "Skewness": ()},
                "2D Convex Hull Features": {"HullCenter": ()}}
    matrix = feature_matrix(features, selected)
    assert matrix.tolist() == [[0, 0, 0, 0, 0], [5, 6, 10, 1, 0], [7, 8, 20, 2, 0]]
    # a selected feature that was not computed is left out, as ilastik's make_feature_array does
    assert feature_matrix(features, {"Standard Object Features": {"Variance": (), "Mean": ()}}).tolist() == \
        [[0], [1], [2]]
    with pytest.raises(ProjectError, match="none of the computed"):
        feature_matrix(features, {"Standard Object Features": {"Variance": ()}})


def test_probability_columns_follow_known_labels(test_projects):
    project = open_project(test_projects, "ObjectClassification5t3d2c_wPred.ilp")
    features, _, _ = predicted_lane(project)[0]
    ensemble = ForestEnsemble(list(project.model.forests))
    matrix = feature_matrix(features, project.model.selected_features)
    probabilities, classes = predict_objects(ensemble, matrix, project.model.known_labels, 3)
    assert probabilities.shape[1] == 3 and not probabilities[:, 2].any()   # class 3 never trained
    with pytest.raises(ProjectError, match="knows classes"):
        predict_objects(ensemble, matrix, np.array([2, 3]), 2)
    empty = predict_objects(ensemble, matrix[:1], project.model.known_labels, 2)
    assert empty[0].shape == (1, 2) and not empty[0].any() and empty[1].tolist() == [0]
    assert predicted_classes(np.array([[0, 0], [0.5, 0.5], [0.2, 0.8]])).tolist() == [0, 1, 2]
