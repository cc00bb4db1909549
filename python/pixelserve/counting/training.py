"""Training Cell Density Counting's regressors from the user's dots, with ilastik's recipe.

ilastik stores its trained regressors only as pickles, so pixelserve retrains them from the
stored labels (`applets/counting/countingOperators.py` OpTrainCounter.execute,
`countingsvr.py` SVR.prepareDataRefactored / fitPrepared / _fit):

1. The labels live in blocks of 256 x 256 pixels (`opCounting.py` OpLabelPipeline:
   determineBlockShape(shape, 256**2) on x, y, c=1). For every block holding labels, its
   pixels are read in ilastik's internal x-y order; samples are the pixels whose dot density
   (`density.py`) exceeds 1e-4, target = the density, then the background-labelled pixels,
   target = the density there (usually 0; a pixel can be taken twice).
2. All blocks' dot samples come first, then all background samples.
3. Four regressors (`numRegressors = 4`), each a scikit-learn RandomForestRegressor with 10
   trees and max_depth 50 fitted on N // 4 rows drawn with replacement (sorted) from the N
   samples. ilastik draws with numpy's global generator and leaves scikit-learn unseeded;
   here one `seed` decides every draw, so the same seed gives the same regressors.
4. Feature scaling is a no-op for random forests (`SVR.normalize`); box constraints only
   enter ilastik's Gurobi SVR, never its random forest, so they are ignored here too.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import numpy as np

from ..blocks import map_blocks
from ..classifiers.regression_trees import trees_from_sklearn
from ..errors import UserError
from ..features import FeatureSpec, feature_count
from ..io import open_dataset
from ..project.counting import (
    BACKGROUND,
    DEFAULT_SIGMA,
    CountingModel,
    CountingRegressors,
    training_fingerprint,
)
from ..project.label_sets import SparseLabels
from ..workflows.volume import Box, Volume
from .density import dot_density
from .prediction import box_features, check_counting_input

logger = logging.getLogger(__name__)

LABEL_BLOCK = 256          # ilastik's label block edge for 2D counting images
DENSITY_THRESHOLD = 1e-4   # `countingsvr.py` prepareDataRefactored
N_REGRESSORS = 4
N_TREES = 10
MAX_DEPTH = 50


def label_blocks(labels: SparseLabels, spatial_shape) -> list[Box]:
    """The 256 x 256 label blocks (clipped to the image) that hold labels, x blocks outermost
    as in ilastik's internal x-y order."""
    if not len(labels):
        return []
    cells = np.unique(labels.coords[:, [3, 2]] // LABEL_BLOCK, axis=0)
    _, ny, nx = spatial_shape
    return [Box((0, 1), (int(cy) * LABEL_BLOCK, min(ny, (int(cy) + 1) * LABEL_BLOCK)),
                (int(cx) * LABEL_BLOCK, min(nx, (int(cx) + 1) * LABEL_BLOCK)))
            for cx, cy in cells]


def block_samples(raw: Volume, labels: SparseLabels, box: Box, specs: list[FeatureSpec],
                  structure_tensor_order: str, sigma: float):
    """(dot rows, dot targets, background rows, background targets) of one label block, rows
    in ilastik's x-major order (float32 features, float32 density targets)."""
    density = dot_density(labels, 0, box, raw.spatial_shape, sigma)
    (y0, y1), (x0, x1) = box.y, box.x
    background = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    chosen = (labels.values == BACKGROUND) & (labels.coords[:, 0] == 0) \
        & (labels.coords[:, 2] >= y0) & (labels.coords[:, 2] < y1) \
        & (labels.coords[:, 3] >= x0) & (labels.coords[:, 3] < x1)
    background[labels.coords[chosen, 2] - y0, labels.coords[chosen, 3] - x0] = True
    # argwhere on the transposed (x, y) planes lists pixels in ilastik's ravel order
    dots = np.argwhere(density.T > DENSITY_THRESHOLD)
    backs = np.argwhere(background.T)
    features = box_features(raw, 0, box, specs, structure_tensor_order)[0]
    return (features[dots[:, 1], dots[:, 0]], density[dots[:, 1], dots[:, 0]],
            features[backs[:, 1], backs[:, 0]], density[backs[:, 1], backs[:, 0]])


def training_samples(raws: list[Volume | None], labels: list[SparseLabels],
                     specs: list[FeatureSpec], structure_tensor_order: str, sigma: float,
                     threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(rows float32 (N, F), targets float64 (N,)) of all lanes, in ilastik's order: the dot
    samples of every block of every lane, then the background samples."""
    tasks = []
    for lane, (raw, lane_labels) in enumerate(zip(raws, labels)):
        if not len(lane_labels):
            continue
        if raw is None:
            raise UserError(f"Lane {lane} of the project holds labels but no image was given for "
                            "it. Fix: pass the training images in the project's lane order.")
        lane_labels.check_inside(raw.shape[:4], f"lane {lane}")
        tasks += [(raw, lane_labels, box) for box in label_blocks(lane_labels, raw.spatial_shape)]
    if not tasks:
        raise UserError("The project holds no counting labels. Fix: in ilastik's counting applet "
                        "click a dot on some objects and mark some background, then save.")
    found: list = [None] * len(tasks)

    def compute(number, _):
        raw, lane_labels, box = tasks[number]
        return block_samples(raw, lane_labels, box, specs, structure_tensor_order, sigma)

    def keep(number, _, samples):
        found[number] = samples

    map_blocks(compute, ((number, None) for number in range(len(tasks))), keep, threads)
    rows = np.concatenate([f[0] for f in found] + [f[2] for f in found])
    targets = np.concatenate([f[1] for f in found] + [f[3] for f in found]).astype(np.float64)
    return rows, targets


def fit_regressors(rows: np.ndarray, targets: np.ndarray, *, seed: int | None = None,
                   threads: int = 1) -> list:
    """ilastik's four bootstrap-quarter scikit-learn `RandomForestRegressor`s."""
    from sklearn.ensemble import RandomForestRegressor  # 0.5 s import, needed only here

    n = rows.shape[0]
    if n // N_REGRESSORS == 0:
        raise UserError(f"Only {n} training samples: too few for {N_REGRESSORS} regressors. Fix: "
                        "label more dots and background in ilastik's counting applet.")
    if not np.any(targets > 0):
        logger.warning("No dot labels: the density (and every count) will be 0.")
    generator = np.random.default_rng(seed)
    regressors = []
    for _ in range(N_REGRESSORS):
        chosen = np.sort(generator.integers(0, n, size=n // N_REGRESSORS))
        forest = RandomForestRegressor(n_estimators=N_TREES, max_depth=MAX_DEPTH,
                                       random_state=int(generator.integers(2 ** 31)),
                                       n_jobs=threads)
        regressors.append(forest.fit(rows[chosen], targets[chosen]))
    return regressors


def train_regressors(raws: list[Volume | None], labels: list[SparseLabels],
                     specs: list[FeatureSpec], structure_tensor_order: str,
                     sigma: float = DEFAULT_SIGMA, *, seed: int | None = None,
                     threads: int = 1) -> CountingRegressors:
    """Train counting regressors from dot (1) and background (2) labels, one `SparseLabels`
    and one image (None where a lane has no labels) per lane."""
    if len(raws) != len(labels):
        raise UserError(f"{len(raws)} training images given for {len(labels)} label sets. "
                        "Fix: pass one image per lane, in the project's lane order.")
    used = [raw for raw, lane in zip(raws, labels) if raw is not None and len(lane)]
    channels = {raw.channels for raw in used}
    if len(channels) > 1:
        raise UserError(f"The training images have different channel counts {sorted(channels)}. "
                        "Fix: pass images with the same channels for every lane.")
    for raw in used:
        check_counting_input(raw, specs, feature_count(specs, raw.channels, 1))
    rows, targets = training_samples(raws, labels, specs, structure_tensor_order, sigma, threads)
    return CountingRegressors(
        regressors=[trees_from_sklearn(forest)
                    for forest in fit_regressors(rows, targets, seed=seed, threads=threads)],
        n_features=rows.shape[1],
        fingerprint=training_fingerprint(labels, specs, structure_tensor_order, sigma))


def train_counting(model: CountingModel, raws: list[Volume | None], *, seed: int | None = None,
                   threads: int = 1) -> CountingRegressors:
    """Train a counting project's regressors from its stored labels on its lanes' images
    (see `training_images`); they carry the project's fingerprint."""
    regressors = train_regressors(raws, model.labels, model.feature_specs,
                                  model.structure_tensor_order, model.sigma, seed=seed,
                                  threads=threads)
    return replace(regressors, fingerprint=model.fingerprint)


def training_images(model: CountingModel, given: list | None = None, *, check=None) -> list[Volume | None]:
    """The images of the project's labelled lanes (None for lanes without labels): `given`
    paths where set (one per lane, in lane order; None keeps the stored one), else the paths
    the project stores, relative to its folder, read with the stored axes. `check(path) ->
    path` passes every stored path before it is opened (the server's allowed roots)."""
    project = model.project
    given = list(given or [])
    role = project.role_names[0]
    images: list[Volume | None] = []
    for index, (lane, labels) in enumerate(zip(project.lanes, model.labels)):
        path = given[index] if index < len(given) else None
        info = lane.get(role)
        if not len(labels) or (path is None and info is None):
            images.append(None)
            continue
        if path is not None:
            image = Volume.from_dataset(open_dataset(os.fspath(path)), name=os.fspath(path))
            if info is not None and info.shape is not None:
                stored = tuple(info.size(a) for a in "tzyx")
                if image.shape[:4] != stored:
                    raise UserError(
                        f"{path} has shape {image.own_shape} (axes '{image.own_axes}') but lane "
                        f"{index} of {project.path.name} was {info.shape} (axes '{info.axes}'), "
                        "the image its labels were drawn on. Fix: pass that image.")
            images.append(image)
            continue
        stored = info.file_path
        if check is not None:
            stored = os.pathsep.join(check(os.path.join(project.path.resolve().parent, member))
                                     for member in stored.split(os.pathsep))
        try:
            dataset = open_dataset(stored, base_dir=str(project.path.resolve().parent),
                                   scale=info.working_scale or None)
        except UserError as error:
            raise UserError(
                f"{project.path.name} stores no regressors pixelserve can read, so they are "
                f"trained from its labels, which lie on lane {index}'s image "
                f"'{info.file_path}'; it cannot be opened ({error}). Fix: put the image there, "
                "or store trained regressors once with 'pixelserve train --project "
                f"{project.path.name} --raw_data IMAGE --output NEW.ilp' and use NEW.ilp.") from None
        images.append(Volume.from_dataset(dataset, info.axes, name=info.file_path))
    return images
