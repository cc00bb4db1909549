"""The Python API every front door uses."""

from __future__ import annotations

import numpy as np
import pytest

import pixelserve
from pixelserve.synthetic import cells_image


def test_project_describes_itself(project_2d):
    project = pixelserve.open_project(project_2d)
    assert project.workflow_name == "Pixel Classification"
    assert project.label_names == ["background", "cell"]
    raw = project.input_roles[0]
    assert (raw.name, raw.flag, raw.channels, raw.spatial_dims) == ("Raw Data", "--raw_data", 1, 2)
    assert project.export_sources == ["Probabilities", "Simple Segmentation", "Uncertainty",
                                      "Features", "Labels"]
    assert project.min_image_size == 14   # ilastik's rule for the largest scale 3.5: ceil(3.5 * 3.5) + 1


def test_predict_on_numpy_arrays_with_explicit_axes(project_2d):
    project = pixelserve.open_project(project_2d)
    image, truth = cells_image((128, 144), seed=21)
    probabilities = project.predict(image, axes="yx")
    assert probabilities.shape == (128, 144, 2) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    transposed = project.predict(image.T, axes="xy")
    np.testing.assert_array_equal(transposed, probabilities.transpose(1, 0, 2))
    segmentation = project.predict(image, axes="yx", export_source="simple segmentation")
    assert segmentation.dtype == np.uint8
    np.testing.assert_array_equal(segmentation[..., 0], probabilities.argmax(-1) + 1)
    assert np.mean(segmentation[..., 0] == truth) > 0.9


def test_time_series_are_predicted_frame_by_frame(project_2d):
    project = pixelserve.open_project(project_2d)
    frames = np.stack([cells_image((64, 64), seed=s)[0] for s in (1, 2, 3)])
    series = project.predict(frames, axes="tyx")
    assert series.shape == (3, 64, 64, 2)
    np.testing.assert_array_equal(series[1], project.predict(frames[1], axes="yx"))


def test_uncertainty_and_mask(project_2d):
    project = pixelserve.open_project(project_2d)
    image, _ = cells_image((64, 64), seed=4)
    probabilities = project.predict(image, axes="yx")
    uncertainty = project.predict(image, axes="yx", export_source="Uncertainty")[..., 0]
    top = np.sort(probabilities, -1)
    np.testing.assert_allclose(uncertainty, 1 - (top[..., -1] - top[..., -2]), atol=1e-6)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 20:50] = 1
    masked = project.predict(image, axes="yx", inputs={"Prediction Mask": (mask, "yx")})
    assert (masked[mask == 0] == 0).all()
    np.testing.assert_array_equal(masked[mask == 1], probabilities[mask == 1])


def test_bad_axes_are_a_user_error(project_2d):
    project = pixelserve.open_project(project_2d)
    with pytest.raises(pixelserve.UserError, match="axes"):
        project.predict(np.zeros((64, 64), np.uint8), axes="zyx")
