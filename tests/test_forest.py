"""pixelserve.classifiers: vigra forest I/O, scikit-learn conversion and fast prediction.

The fast kernel is checked against `reference_predict`, a plain numpy walk over vigra's own
encoding (independent of the parser and the node table the kernel uses).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import require_fixtures
from pixelserve.classifiers import ForestEnsemble, VigraForest, forest_from_sklearn, read_vigra_forest, write_vigra_forest
from pixelserve.errors import ProjectError, UserError

LEAF = 0x40000000


def reference_predict(forests: list[VigraForest], X: np.ndarray) -> np.ndarray:
    """vigra's rule, literally: left when x < threshold (float64); average each forest's leaf
    distributions; combine forests by tree count; rows with NaN get zeros."""
    X64 = np.asarray(X, dtype=np.float64)
    rows = np.arange(X64.shape[0])
    total = np.zeros((X64.shape[0], forests[0].n_classes))
    for forest in forests:
        for topology, parameters in forest.trees:
            node = np.full(X64.shape[0], 2, dtype=np.int64)
            while True:
                inner = topology[node] != LEAF
                if not inner.any():
                    break
                at = node[inner]
                threshold = parameters[topology[at + 1] + 1]
                left = X64[rows[inner], topology[at + 4]] < threshold
                node[inner] = np.where(left, topology[at + 2], topology[at + 3])
            address = topology[node + 1]
            total += parameters[address[:, None] + 1 + np.arange(forest.n_classes)]
    result = total / sum(f.tree_count for f in forests)
    result[np.isnan(X64).any(axis=1)] = 0.0
    return result


def probing_rows(forests: list[VigraForest], n: int, seed: int) -> np.ndarray:
    """Rows whose values sit on, just below and just above the forests' own thresholds (as
    float32), mixed with values between them, so that both sides of many splits are taken."""
    rng = np.random.default_rng(seed)
    n_features = forests[0].n_features
    per_feature = [[] for _ in range(n_features)]
    for forest in forests:
        for topology, parameters in forest.trees:
            starts = _split_starts(topology)
            for start in starts:
                per_feature[topology[start + 4]].append(parameters[topology[start + 1] + 1])
    X = rng.standard_normal((n, n_features)).astype(np.float32)
    for f, values in enumerate(per_feature):
        if not values:
            continue
        t = np.asarray(values, dtype=np.float32)
        pick = t[rng.integers(0, t.size, n)]
        how = rng.integers(0, 4, n)
        pick = np.where(how == 1, np.nextafter(pick, np.float32(-np.inf)), pick)
        pick = np.where(how == 2, np.nextafter(pick, np.float32(np.inf)), pick)
        spread = np.float32(np.std(t) + 1e-3)
        pick = np.where(how == 3, pick + spread * rng.standard_normal(n).astype(np.float32), pick)
        X[:, f] = pick
    return X


def _split_starts(topology: np.ndarray) -> list[int]:
    starts, stack = [], [2]
    while stack:
        at = stack.pop()
        if topology[at] != LEAF:
            starts.append(at)
            stack += [int(topology[at + 2]), int(topology[at + 3])]
    return starts


def fixture_forest_groups(folder: Path):
    """(project name, classifier group path, forest names) of every project in a folder."""
    for path in sorted(folder.glob("*.ilp")):
        with h5py.File(path, "r") as file:
            found = []
            file.visititems(lambda name, obj: found.append(name)  # noqa: B023  (called at once)
                            if isinstance(obj, h5py.Group) and name.endswith("ClassifierForests")
                            or (isinstance(obj, h5py.Group) and name.split("/")[-1] == "Output")
                            else None)
            for group_path in found:
                names = sorted(n for n in file[group_path] if n.startswith("Forest"))
                if names:
                    yield path, group_path, names


def read_forests(path: Path, group_path: str, names: list[str]) -> list[VigraForest]:
    with h5py.File(path, "r") as file:
        return [read_vigra_forest(file[group_path][name]) for name in names]


# ---------------------------------------------------------------- real forests from ilastik


@pytest.mark.parametrize("archive", ["api_projects", "test_projects"])
def test_fixture_forests_predict_like_reference(archive, request):
    folder = request.getfixturevalue(archive)
    groups = list(fixture_forest_groups(folder))
    assert groups, f"no classifier forests found in {archive}"
    checked = 0
    for index, (path, group_path, names) in enumerate(groups):
        forests = read_forests(path, group_path, names)
        ensemble = ForestEnsemble(forests)
        assert ensemble.tree_count == sum(f.tree_count for f in forests)
        X = probing_rows(forests, 700, seed=index)
        X[::97, index % forests[0].n_features] = np.nan
        expected = reference_predict(forests, X)
        got = ensemble.predict_proba(X)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-7,
                                   err_msg=f"{path.name} {group_path}")
        checked += 1
    assert checked == len(groups)


def test_fixture_forest_fields(api_projects):
    forests = read_forests(api_projects / "PixelClass.ilp", "PixelClassification/ClassifierForests",
                           [f"Forest{i:04d}" for i in range(8)])
    forest = forests[0]
    assert (forest.n_features, forest.n_classes, forest.tree_count) == (25, 2, 13)
    assert forest.labels.dtype == np.uint32 and forest.labels.tolist() == [1, 2]
    assert "tree_count_" not in forest.options and "predict_weighted_" in forest.options
    assert "labels" not in forest.ext_param and "row_count_" in forest.ext_param
    topology, parameters = forest.trees[0]
    assert topology.dtype == np.int32 and parameters.dtype == np.float64


# ---------------------------------------------------------------------------- writing


def _layout(group: h5py.Group) -> dict:
    """Names, dtypes and shapes of everything in a forest group (tree data shapes excluded)."""
    layout = {"attrs": {k: (np.asarray(v).dtype.str, np.asarray(v).shape)
                        for k, v in group.attrs.items()}}
    for part in ("_options", "_ext_param"):
        layout[part] = {k: (d.dtype.str, d.shape) for k, d in group[part].items()}
    trees = sorted(k for k in group if not k.startswith("_"))
    layout["trees"] = trees
    layout["tree_datasets"] = {(k, d.dtype.str, len(d.shape)) for t in trees
                               for k, d in group[t].items()}
    layout["tree_attrs"] = {k for t in trees for k in group[t].attrs}
    return layout


def test_write_read_round_trip_is_exact(api_projects, tmp_path):
    source = api_projects / "PixelClass3Channel.ilp"
    group_path = "PixelClassification/ClassifierForests/Forest0003"
    with h5py.File(source, "r") as file:
        original = file[group_path]
        forest = read_vigra_forest(original)
        with h5py.File(tmp_path / "copy.h5", "w") as out:
            write_vigra_forest(out.create_group("Forest0000"), forest)
        with h5py.File(tmp_path / "copy.h5", "r") as out:
            written = out["Forest0000"]
            assert _layout(written) == _layout(original)
            # every value, byte for byte, as ilastik wrote it
            for name in ("_options", "_ext_param"):
                for key in original[name]:
                    np.testing.assert_array_equal(written[name][key][()], original[name][key][()])
            for tree in (k for k in original if not k.startswith("_")):
                for key in ("topology", "parameters"):
                    np.testing.assert_array_equal(written[tree][key][()], original[tree][key][()])
            again = read_vigra_forest(written)
    assert again.n_features == forest.n_features and again.n_classes == forest.n_classes
    np.testing.assert_array_equal(again.labels, forest.labels)
    assert len(again.trees) == len(forest.trees)
    for (t1, p1), (t2, p2) in zip(again.trees, forest.trees):
        np.testing.assert_array_equal(t1, t2)
        np.testing.assert_array_equal(p1, p2)
    assert again.options.keys() == forest.options.keys()
    assert again.ext_param.keys() == forest.ext_param.keys()


@pytest.mark.parametrize("n_trees, first, last", [
    (1, "Tree_0", "Tree_0"), (10, "Tree_0", "Tree_9"), (13, "Tree_00", "Tree_12"),
    (100, "Tree_00", "Tree_99")])
def test_tree_group_names_follow_vigra(n_trees, first, last, tmp_path):
    forest = forest_from_sklearn(_small_sklearn_forest(n_trees, n_classes=2))
    with h5py.File(tmp_path / "f.h5", "w") as out:
        write_vigra_forest(out.create_group("Forest0000"), forest)
        names = sorted(k for k in out["Forest0000"] if not k.startswith("_"))
    assert names[0] == first and names[-1] == last and len(names) == n_trees


def test_converted_forest_has_ilastik_layout(api_projects, tmp_path):
    forest = forest_from_sklearn(_small_sklearn_forest(13, n_classes=2, n_features=25))
    with h5py.File(tmp_path / "ours.h5", "w") as out:
        write_vigra_forest(out.create_group("Forest0000"), forest)
    with h5py.File(tmp_path / "ours.h5", "r") as ours, \
            h5py.File(api_projects / "PixelClass.ilp", "r") as theirs:
        fixture = theirs["PixelClassification/ClassifierForests/Forest0000"]
        assert _layout(ours["Forest0000"]) == _layout(fixture)
        back = read_vigra_forest(ours["Forest0000"])
    X = probing_rows([forest], 500, seed=3)
    np.testing.assert_allclose(ForestEnsemble([back]).predict_proba(X),
                               reference_predict([forest], X), rtol=0, atol=2e-7)


# ------------------------------------------------------------------ scikit-learn forests


def _small_sklearn_forest(n_trees=7, n_classes=3, n_features=6, seed=0, integer=False):
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((600, n_features)).astype(np.float32)
    if integer:
        X = np.round(X * 3).astype(np.float32)
    score = X[:, 0] + 0.5 * X[:, 1 % n_features] + 0.7 * rng.standard_normal(600)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])) + 1
    return RandomForestClassifier(n_estimators=n_trees, random_state=seed, n_jobs=1).fit(X, y)


def test_sklearn_conversion_matches_sklearn_exactly():
    clf = _small_sklearn_forest(n_trees=12, n_classes=3)
    forest = forest_from_sklearn(clf)
    assert forest.labels.tolist() == [1, 2, 3] and forest.tree_count == 12
    X = probing_rows([forest], 3000, seed=1)
    expected = clf.predict_proba(X)
    got = ForestEnsemble([forest]).predict_proba(X)
    # same leaves, same summation order: equal after rounding to float32
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    np.testing.assert_allclose(got, reference_predict([forest], X), rtol=0, atol=2e-7)


def test_rows_exactly_on_sklearn_thresholds():
    """Integer features give thresholds like 0.5 that float32 holds exactly: scikit-learn sends
    x == 0.5 left (x <= t), vigra would send it right (x < t) without the conversion."""
    clf = _small_sklearn_forest(n_trees=9, n_classes=2, integer=True)
    thresholds = np.concatenate([e.tree_.threshold[e.tree_.children_left >= 0]
                                 for e in clf.estimators_])
    on = thresholds[thresholds == thresholds.astype(np.float32)]
    assert on.size > 20, "the test needs thresholds that are float32 values"
    rng = np.random.default_rng(4)
    X = rng.choice(np.unique(on), size=(2000, 6)).astype(np.float32)
    got = ForestEnsemble([forest_from_sklearn(clf)]).predict_proba(X)
    np.testing.assert_array_equal(got, clf.predict_proba(X).astype(np.float32))


def test_sklearn_labels_argument():
    clf = _small_sklearn_forest(n_classes=2)
    assert forest_from_sklearn(clf, labels=[3, 7]).labels.tolist() == [3, 7]
    with pytest.raises(UserError, match="labels"):
        forest_from_sklearn(clf, labels=[1, 2, 3])
    with pytest.raises(UserError, match="ascending"):
        forest_from_sklearn(clf, labels=[2, 1])
    with pytest.raises(UserError, match="fit"):
        from sklearn.ensemble import RandomForestClassifier
        forest_from_sklearn(RandomForestClassifier())


# ----------------------------------------------------------------------- prediction rules


def test_nan_rows_give_zeros_and_tiles_and_threads_agree():
    clf = _small_sklearn_forest(n_trees=20, n_classes=3, n_features=9, seed=5)
    forest = forest_from_sklearn(clf)
    ensemble = ForestEnsemble([forest])
    X = probing_rows([forest], 3 * ensemble.tile + 77, seed=2)   # partial last tile
    X[5, 3] = np.nan
    X[-1, :] = np.nan
    X[ensemble.tile, 0] = np.nan
    single = ensemble.predict_proba(X)
    assert not single[[5, -1, ensemble.tile]].any()
    np.testing.assert_allclose(single, reference_predict([forest], X), rtol=0, atol=2e-7)
    np.testing.assert_array_equal(ensemble.predict_proba(X, threads=2), single)
    out = np.full_like(single, 7.0)
    assert ensemble.predict_proba(X, out=out) is out
    np.testing.assert_array_equal(out, single)
    few = X[: ensemble.dense_min // 2]   # fewer rows than mask mode needs
    np.testing.assert_array_equal(ensemble.predict_proba(few), single[: few.shape[0]])
    np.testing.assert_array_equal(ensemble.predict_proba(X.astype(np.float64)[::-1])[::-1], single)
    assert ensemble.predict_proba(X[:0]).shape == (0, 3)


def test_concurrent_calls_share_nothing():
    """The engine calls one ensemble from many threads at once (the kernel releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    forest = forest_from_sklearn(_small_sklearn_forest(n_trees=15, seed=7))
    ensemble = ForestEnsemble([forest])
    blocks = [probing_rows([forest], 2500, seed=s) for s in range(6)]
    alone = [ensemble.predict_proba(b) for b in blocks]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(ensemble.predict_proba, blocks))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_forests_combine_by_tree_count():
    a = forest_from_sklearn(_small_sklearn_forest(n_trees=3, seed=1))
    b = forest_from_sklearn(_small_sklearn_forest(n_trees=8, seed=2))
    X = probing_rows([a, b], 2000, seed=6)
    combined = ForestEnsemble([a, b]).predict_proba(X).astype(np.float64)
    pa = ForestEnsemble([a]).predict_proba(X).astype(np.float64)
    pb = ForestEnsemble([b]).predict_proba(X).astype(np.float64)
    np.testing.assert_allclose(combined, (3 * pa + 8 * pb) / 11, rtol=0, atol=5e-7)
    np.testing.assert_allclose(combined, reference_predict([a, b], X), rtol=0, atol=2e-7)


def test_special_thresholds_and_values():
    """Thresholds at +-0, +-inf, NaN, beyond float32 range and between float32 values;
    rows with -0.0, +0.0, infinities, denormals and the float32 neighbours of thresholds."""
    thresholds = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e39, -1e39, 0.1, 1.0 + 2 ** -40,
                  np.float32(2.5), -1e-45, 1e-40]
    trees = [_stump(t) for t in thresholds]
    forest = VigraForest(n_features=1, n_classes=2, labels=np.array([1, 2], np.uint32), trees=trees)
    values = [0.0, -0.0, np.inf, -np.inf, 0.1, 1.0, 2.5, 1e-45, -1e-45, 1e-40, 3e38, -3e38]
    values += [float(np.nextafter(np.float32(v), np.float32(d)))
               for v in values for d in (-np.inf, np.inf) if np.isfinite(v)]
    X = np.asarray(values, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(ForestEnsemble([forest]).predict_proba(X),
                                  reference_predict([forest], X).astype(np.float32))


def _stump(threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One split on feature 0: left leaf says class 1, right leaf class 2."""
    topology = np.array([1, 2, 0, 0, 7, 9, 0, LEAF, 2, LEAF, 5], dtype=np.int32)
    parameters = np.array([1.0, threshold, 3.0, 1.0, 0.0, 4.0, 0.0, 1.0], dtype=np.float64)
    return topology, parameters


def test_single_leaf_trees():
    leaf_only = (np.array([1, 2, LEAF, 0], np.int32), np.array([5.0, 0.25, 0.75]))
    forest = VigraForest(1, 2, np.array([1, 2], np.uint32), [leaf_only, _stump(0.5)])
    X = np.linspace(-1, 2, 3000, dtype=np.float32)[:, None]
    np.testing.assert_allclose(ForestEnsemble([forest]).predict_proba(X),
                               reference_predict([forest], X), rtol=0, atol=1e-7)


# ---------------------------------------------------------------------------- refusals


def _write_raw(path: Path, topology, parameters, **overrides) -> h5py.File:
    forest = VigraForest(1, 2, np.array([1, 2], np.uint32), [_stump(0.5)])
    with h5py.File(path, "w") as file:
        write_vigra_forest(file.create_group("f"), forest)
        del file["f/Tree_0"]
        tree = file.create_group("f/Tree_0")
        tree["topology"] = np.asarray(topology, np.int32)
        tree["parameters"] = np.asarray(parameters, np.float64)
        for key, value in overrides.items():
            del file[key]
            file[key] = value
    return h5py.File(path, "r")


@pytest.mark.parametrize("topology, parameters, message", [
    ([1, 2, 1, 0, 7, 9, 0, LEAF, 2, LEAF, 5], [1.0, 0.5, 1, 1, 0, 1, 0, 1], "hyperplane"),
    ([1, 2, 2, 0, 7, 9, 0, LEAF, 2, LEAF, 5], [1.0, 0.5, 1, 1, 0, 1, 0, 1], "hypersphere"),
    ([1, 2, 0, 0, 7, 40, 0, LEAF, 2, LEAF, 5], [1.0, 0.5, 1, 1, 0, 1, 0, 1], "outside"),
    ([1, 2, 0, 0, 2, 9, 0, LEAF, 2, LEAF, 5], [1.0, 0.5, 1, 1, 0, 1, 0, 1], "cycle|share"),
    ([1, 2, 0, 0, 7, 9, 3, LEAF, 2, LEAF, 5], [1.0, 0.5, 1, 1, 0, 1, 0, 1], "feature"),
    ([1, 2, 0, 0, 7, 9, 0, LEAF, 2, LEAF, 7], [1.0, 0.5, 1, 1, 0, 1, 0, 1], "probabilities"),
    ([1, 3, 0, 0, 7, 9, 0, LEAF, 2, LEAF, 5], [1.0, 0.5, 1, 1, 0, 1, 0, 1], "classes"),
])
def test_malformed_trees_are_refused(tmp_path, topology, parameters, message):
    with _write_raw(tmp_path / "bad.h5", topology, parameters) as file:
        with pytest.raises(ProjectError, match=message):
            read_vigra_forest(file["f"])
    forest = VigraForest(1, 2, np.array([1, 2], np.uint32),
                         [(np.asarray(topology, np.int32), np.asarray(parameters, np.float64))])
    with pytest.raises(ProjectError, match=message):
        ForestEnsemble([forest])


def test_inconsistent_forests_are_refused(tmp_path):
    two = VigraForest(1, 2, np.array([1, 2], np.uint32), [_stump(0.5)])
    other_labels = VigraForest(1, 2, np.array([1, 3], np.uint32), [_stump(0.5)])
    with pytest.raises(ProjectError, match="labels"):
        ForestEnsemble([two, other_labels])
    wider = forest_from_sklearn(_small_sklearn_forest(n_classes=2, n_features=4))
    with pytest.raises(ProjectError, match="features"):
        ForestEnsemble([two, wider])
    weighted = VigraForest(1, 2, np.array([1, 2], np.uint32), [_stump(0.5)],
                           options={"predict_weighted_": np.array([1.0])})
    with pytest.raises(ProjectError, match="weighted"):
        ForestEnsemble([weighted])
    unnormalised = VigraForest(1, 2, np.array([1, 2], np.uint32),
                               [(_stump(0.5)[0],
                                 np.array([1.0, 0.5, 3.0, 2.0, 0.0, 4.0, 0.0, 1.0]))])
    with pytest.raises(ProjectError, match="sum"):
        ForestEnsemble([unnormalised])
    with pytest.raises(ProjectError, match="tree_count_"):
        with _write_raw(tmp_path / "count.h5", *_stump(0.5),
                        **{"f/_options/tree_count_": np.array([2.0])}) as file:
            read_vigra_forest(file["f"])
    with pytest.raises(UserError, match="features"):
        ForestEnsemble([two]).predict_proba(np.zeros((3, 2), np.float32))


def test_fixtures_are_located_like_the_other_tests():
    folder = require_fixtures()
    with zipfile.ZipFile(folder / "api_projects.zip") as archive:
        assert any(name.endswith(".ilp") for name in archive.namelist())
