"""Cell Density Counting on ilastik's own project CellDensityCounting2d3c.ilp: reading it,
retraining with ilastik's recipe against ilastik's stored density, determinism, blockwise
prediction, the count, and storing trained regressors in the project."""

from __future__ import annotations

import itertools
import shutil

import h5py
import numpy as np
import pytest

from conftest import fixtures_dir
from pixelserve.counting import DensityCounter, DensityPredictor, train_counting
from pixelserve.errors import ProjectError
from pixelserve.project.counting import (
    REGRESSORS_GROUP,
    read_counting_project,
    write_counting_regressors,
)
from pixelserve.workflows.volume import Box, Volume

PROJECT = "CellDensityCounting2d3c.ilp"
REFERENCE_COUNT = 29.873638   # sum of ilastik's 2d3c_count_Probabilities.h5


@pytest.fixture(scope="module")
def project(test_projects):
    return test_projects / PROJECT


@pytest.fixture(scope="module")
def model(project):
    return read_counting_project(project)


@pytest.fixture(scope="module")
def raw():
    with h5py.File(fixtures_dir() / "inputdata" / "2d3c.h5", "r") as file:
        return Volume.from_array(file["data"][()], "yxc", name="2d3c")


@pytest.fixture(scope="module")
def reference():
    path = fixtures_dir() / "inputdata" / "2d3c_count_Probabilities.h5"
    with h5py.File(path, "r") as file:
        return file["exported_data"][()]


def whole_density(predictor: DensityPredictor, raw: Volume) -> np.ndarray:
    return predictor.density(raw, Box.whole(raw.spatial_shape))[0]


def test_reader(model):
    """Labels come back from ilastik's internal x-y-c order into (t, z, y, x)."""
    assert model.internal_axes == ["xyc"]
    assert model.sigma == 2.5 and model.structure_tensor_order == "vigra"
    assert model.label_names == ["Foreground", "Background"]
    assert model.box_constraints == [] and model.stored_regressors is None
    labels = model.labels[0]
    dots = labels.coords[labels.values == 1]
    # the stored (187, 73, 1) block has dots at (x, y) = (97, 40), (117, 21), (125, 35)
    assert sorted(map(tuple, dots[:, 2:].tolist())) == [(21, 117), (35, 125), (40, 97)]
    assert np.sum(labels.values == 2) == 66
    assert len(model.feature_specs) == 8


@pytest.mark.parametrize("seed", range(5))
def test_retrained_density_matches_ilastik(model, raw, reference, seed):
    regressors = train_counting(model, [raw], seed=seed)
    density = whole_density(DensityPredictor(regressors, model.feature_specs,
                                             model.structure_tensor_order), raw)
    assert density.shape == reference.shape and density.dtype == np.float32
    mse = np.mean((density.astype(np.float64) - reference) ** 2)
    assert mse <= 1e-3   # ilastik's own bar; we measure ~5e-6
    assert np.corrcoef(density.ravel(), reference.ravel())[0, 1] > 0.85
    counter = DensityCounter(raw.spatial_shape[1:])
    counter.add((0, 73), (0, 187), density[..., 0])
    assert abs(counter.total() / REFERENCE_COUNT - 1) <= 0.10, counter.total()


def test_same_seed_same_regressors_and_density(model, raw):
    first, second = (train_counting(model, [raw], seed=7, threads=threads) for threads in (1, 2))
    for trees_a, trees_b in zip(first.regressors, second.regressors):
        for a, b in zip(trees_a, trees_b):
            assert np.array_equal(a.threshold, b.threshold) and np.array_equal(a.value, b.value)
    densities = [whole_density(DensityPredictor(r, model.feature_specs,
                                                model.structure_tensor_order), raw)
                 for r in (first, second)]
    assert np.array_equal(densities[0], densities[1])
    other = train_counting(model, [raw], seed=8)
    assert not np.array_equal(
        whole_density(DensityPredictor(other, model.feature_specs, model.structure_tensor_order),
                      raw), densities[0])


def test_blockwise_density_and_count(model, raw):
    """Any blocking gives the whole image's density bit for bit, and the same count, which
    is ilastik's: float32 sums of 128 x 128 tiles of the x-y image, added in float64."""
    predictor = DensityPredictor(train_counting(model, [raw], seed=1), model.feature_specs,
                                 model.structure_tensor_order)
    whole = whole_density(predictor, raw)[..., 0]
    blocked = np.zeros_like(whole)
    counter = DensityCounter(whole.shape)
    for y0, x0 in itertools.product(range(0, 73, 30), range(0, 187, 50)):
        box = Box((0, 1), (y0, min(73, y0 + 30)), (x0, min(187, x0 + 50)))
        part = predictor.density(raw, box, threads=2)[0, ..., 0]
        blocked[box.y[0]:box.y[1], box.x[0]:box.x[1]] = part
        counter.add(box.y, box.x, part)
    assert np.array_equal(blocked, whole)
    xy = np.ascontiguousarray(whole.T)
    tiles = [np.sum(np.ascontiguousarray(xy[a:a + 128, b:b + 128]))
             for a, b in itertools.product(range(0, 187, 128), range(0, 73, 128))]
    assert counter.total() == np.sum(np.array(tiles, dtype=np.float64))
    with pytest.raises(ValueError, match="not"):
        DensityCounter(whole.shape).total()


def test_stored_regressors_round_trip(project, model, raw, tmp_path):
    """Train once and store; reading the stored regressors predicts exactly what retraining
    with the same seed predicts, and the rest of the project stays as ilastik wrote it."""
    trained = train_counting(model, [raw], seed=3)
    output = write_counting_regressors(project, tmp_path / "stored.ilp", trained)
    stored = read_counting_project(output)
    assert stored.stored_regressors is not None
    again = train_counting(model, [raw], seed=3)
    densities = [whole_density(DensityPredictor(r, model.feature_specs,
                                                model.structure_tensor_order), raw)
                 for r in (stored.stored_regressors, again)]
    assert np.array_equal(densities[0], densities[1])

    def contents(path):
        found = {}
        with h5py.File(path, "r") as file:
            file.visititems(lambda name, item: found.__setitem__(name, (
                np.asarray(item[()]).tobytes() if isinstance(item, h5py.Dataset) else None,
                repr(sorted((k, np.asarray(v).tobytes()) for k, v in item.attrs.items())))))
        return found

    before, after = contents(project), contents(output)
    added = {name for name in after if name.startswith(f"Counting/{REGRESSORS_GROUP}")}
    assert added and {k: v for k, v in after.items() if k not in added} == before
    # storing again replaces the group
    write_counting_regressors(output, output, train_counting(model, [raw], seed=4))
    assert contents(output).keys() == after.keys()


def test_stale_or_damaged_stored_regressors(project, model, raw, tmp_path):
    output = write_counting_regressors(project, tmp_path / "stale.ilp",
                                       train_counting(model, [raw], seed=0))
    with h5py.File(output, "a") as file:   # the user adds a background label in ilastik
        block = file["Counting/LabelSets/labels0/block0000"]
        block[0, 0, 0] = 2
    assert read_counting_project(output).stored_regressors is None
    with h5py.File(output, "a") as file:
        del file[f"Counting/{REGRESSORS_GROUP}/regressor_0/tree_3/value"]
    with pytest.raises(ProjectError, match="lacks one of"):
        read_counting_project(output)


def test_pickled_wrappers_are_never_loaded(project, tmp_path):
    """ilastik's CountingWrappers are pickles: replace them with one that would run code."""
    copy = tmp_path / "pickle.ilp"
    shutil.copyfile(project, copy)
    with h5py.File(copy, "a") as file:
        del file["Counting/CountingWrappers/wrapper0000"]
        payload = b"cos\nsystem\n(S'touch " + str(tmp_path / "ran").encode() + b"'\ntR."
        file["Counting/CountingWrappers/wrapper0000"] = np.void(payload)
    model = read_counting_project(copy)
    assert len(model.labels[0]) == 69 and not (tmp_path / "ran").exists()
