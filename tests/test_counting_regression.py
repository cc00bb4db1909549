"""Regression forests (counting's regressors): the compiled kernel against scikit-learn's
`predict`, and the pickle-free HDF5 form of the trees."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from pixelserve.classifiers import ForestEnsemble
from pixelserve.classifiers.regression import RegressionForests
from pixelserve.classifiers.regression_trees import (
    read_regression_forest,
    trees_from_sklearn,
    write_regression_forest,
)
from pixelserve.errors import ProjectError, UserError

N_FEATURES = 12


@pytest.fixture(scope="module")
def regressors():
    """Four ilastik-style regressors (10 trees, depth 50, bootstrap quarters) on a smooth target
    with exact ties in the features, so that splits sit on repeated values."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1200, N_FEATURES)).astype(np.float32)
    X[:, 2] = np.round(X[:, 2], 1)
    y = np.maximum(0.0, 0.01 * X[:, 0] + 0.004 * X[:, 1] * X[:, 2] + 0.002)
    fitted = []
    for index in range(4):
        rows = np.sort(rng.integers(0, len(X), len(X) // 4))
        fitted.append(RandomForestRegressor(n_estimators=10, max_depth=50, random_state=index)
                      .fit(X[rows], y[rows]))
    return fitted


def rows_on_thresholds(fitted, n: int, seed: int) -> np.ndarray:
    """Feature rows whose values sit on, just below and just above the trees' thresholds
    (rounded to float32), mixed with ordinary values."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, N_FEATURES)).astype(np.float32)
    for f in range(N_FEATURES):
        cuts = np.concatenate([e.tree_.threshold[e.tree_.feature == f]
                               for r in fitted for e in r.estimators_]).astype(np.float32)
        if cuts.size:
            picked = cuts[rng.integers(0, cuts.size, n)]
            how = rng.integers(0, 4, n)
            picked = np.where(how == 1, np.nextafter(picked, np.float32(-np.inf)), picked)
            picked = np.where(how == 2, np.nextafter(picked, np.float32(np.inf)), picked)
            X[:, f] = np.where(how == 3, X[:, f], picked)
    return X


def test_predicts_like_sklearn_to_float32(regressors):
    forests = RegressionForests([trees_from_sklearn(r) for r in regressors], N_FEATURES)
    X = rows_on_thresholds(regressors, 20000, seed=1)
    expected = np.stack([r.predict(X) for r in regressors], axis=1).astype(np.float32)
    got = forests.predict(X)
    assert got.dtype == np.float32 and got.shape == (len(X), 4)
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(forests.predict(X, threads=2), got)
    assert forests.n_regressors == 4 and forests.tree_count == 40


def test_nan_rows_and_bad_input(regressors):
    forests = RegressionForests([trees_from_sklearn(r) for r in regressors], N_FEATURES)
    X = rows_on_thresholds(regressors, 300, seed=2)
    X[::7, 3] = np.nan
    got = forests.predict(X)
    assert np.all(got[::7] == 0) and np.any(got[1::7] > 0)
    with pytest.raises(UserError, match="rows of 12 features"):
        forests.predict(X[:, :5])
    with pytest.raises(UserError, match="different numbers of trees"):
        RegressionForests([trees_from_sklearn(regressors[0]),
                           trees_from_sklearn(regressors[1])[:5]], N_FEATURES)


def test_trees_round_trip_through_hdf5(regressors, tmp_path):
    trees = trees_from_sklearn(regressors[0])
    with h5py.File(tmp_path / "forest.h5", "w") as file:
        write_regression_forest(file.create_group("forest"), trees, N_FEATURES)
    with h5py.File(tmp_path / "forest.h5", "r") as file:
        assert sorted(file["forest"]) == [f"tree_{i}" for i in range(10)]
        back, n_features = read_regression_forest(file["forest"])
    assert n_features == N_FEATURES and len(back) == len(trees)
    for a, b in zip(trees, back):
        for field in ("children_left", "children_right", "feature", "threshold", "value"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field


@pytest.mark.parametrize("damage, message", [
    (lambda t: t["children_left"].__setitem__(0, 0), "missing or invalid child"),
    (lambda t: t["feature"].__setitem__(0, 99), "feature outside"),
    (lambda t: t["children_right"].__setitem__(0, t["children_left"][0]), "do not form a tree"),
    (lambda t: t["value"].__setitem__(-1, np.nan), "not a finite number"),
    (lambda t: t.update(threshold=t["threshold"][:-1]), "different lengths"),
])
def test_damaged_trees_are_refused(regressors, tmp_path, damage, message):
    tree = trees_from_sklearn(regressors[0])[0]
    arrays = {name: getattr(tree, name).copy() for name in
              ("children_left", "children_right", "feature", "threshold", "value")}
    damage(arrays)
    with h5py.File(tmp_path / "bad.h5", "w") as file:
        group = file.create_group("forest")
        group.attrs["n_features"] = N_FEATURES
        for name, values in arrays.items():
            group.create_dataset(f"tree_0/{name}", data=values)
    with h5py.File(tmp_path / "bad.h5", "r") as file, pytest.raises(ProjectError, match=message):
        read_regression_forest(file["forest"])


def test_classification_still_requires_normalised_leaves(regressors):
    """The regression variant shares ForestEnsemble's compiler; classification keeps its check."""
    from sklearn.ensemble import RandomForestClassifier

    from pixelserve.classifiers import forest_from_sklearn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4)).astype(np.float32)
    forest = forest_from_sklearn(RandomForestClassifier(3, random_state=0)
                                 .fit(X, (X[:, 0] > 0).astype(int) + 1))
    topology, parameters = forest.trees[0]
    leaf = np.flatnonzero(topology == 0x40000000)[0]
    parameters[topology[leaf + 1] + 1] += 0.5
    with pytest.raises(ProjectError, match="sum to"):
        ForestEnsemble([forest])


def test_clipped_mean_is_numpys_float32_mean():
    """The density is ilastik's OpMean (numpy's float32 mean over the regressor axis) of the
    regressors' outputs with negatives set to 0; the compiled version must agree bit for bit."""
    from pixelserve.counting.prediction import clipped_mean

    rng = np.random.default_rng(5)
    scale = rng.choice(np.float32([1e-6, 1e-3, 1.0, 1e3]), (40000, 4))
    outputs = (rng.standard_normal((40000, 4)) * scale).astype(np.float32)
    expected = np.maximum(outputs, 0).reshape(200, 200, 4).mean(axis=2).reshape(-1)
    assert np.array_equal(clipped_mean(outputs), expected)
