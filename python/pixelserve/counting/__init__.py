"""Cell Density Counting: ilastik's dot-density regressors, retrained and predicted fast.

A workflow runs, per project and then per image:

    model = read_counting_project(path)                  # pixelserve.project.counting
    regressors = model.stored_regressors or train_counting(model, training_images(model),
                                                           seed=seed)
    # (or train_regressors(raws, labels, specs, order, sigma) without a project)
    predictor = DensityPredictor(regressors, model.feature_specs, model.structure_tensor_order)
    check_counting_input(raw, model.feature_specs, predictor.n_features)
    counter = DensityCounter(raw.spatial_shape[1:])
    for box in blocks:                                   # any blocking, any order
        density = predictor.density(raw, box)            # (1, y, x, 1) float32
        counter.add(box.y, box.x, density)
    count = counter.total()

`write_counting_regressors(project, output, regressors)` stores trained regressors in a copy
of the project, so that later runs skip training.
"""

from .density import DENSITY_WINDOW, dot_density
from .prediction import DensityCounter, DensityPredictor, box_features, check_counting_input
from .training import (
    fit_regressors,
    train_counting,
    train_regressors,
    training_images,
    training_samples,
)

__all__ = ["DENSITY_WINDOW", "DensityCounter", "DensityPredictor", "box_features",
           "check_counting_input", "dot_density", "fit_regressors", "train_counting",
           "train_regressors", "training_images", "training_samples"]
