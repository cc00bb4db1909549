"""Tracking against ilastik's own results: the seven TrackingwLearning projects of test_projects.zip.

Each project stores its last tracking (ilastik 1.3.1, dpct's flow solver) as a pickled hytra
hypotheses graph in `StructuredTracking/HypothesesGraph/0000`. Only this test decodes it, with
an unpickler that admits stub classes, plain containers and numbers (pixelserve never
unpickles). Detections come from the features the projects cache; where a frame's features are
not cached (5t2d_wPred caches only frame 0, and the inputs that produced the others are not
published), the stored graph's per-detection centres and probabilities stand in for them.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass

import h5py
import numpy as np
import pytest

from pixelserve.classifiers import ForestEnsemble
from pixelserve.project.ilp import read_project_file
from pixelserve.project.tracking import (
    read_stored_features,
    read_stored_label_frame,
    read_tracking_project,
)
from pixelserve.tracking.detections import (
    Detections,
    classifier_probabilities,
    frame_detections,
)
from pixelserve.tracking.division_features import cell_division_features
from pixelserve.tracking.lineage import NO_ID, SolvedGraph, compute_lineage
from pixelserve.tracking.mergers import resolve_mergers
from pixelserve.tracking.pipeline import track_detections
from pixelserve.tracking.solution import energy, violations

PROJECTS = ["TrackingwLearning5t2d1c_wBin.ilp", "TrackingwLearning5t2d1c_wPred.ilp",
            "TrackingwLearning5t2d2c_wBin.ilp", "TrackingwLearning5t2d3c_wPred.ilp",
            "TrackingwLearning5t2d_wPred.ilp", "TrackingwLearning5t3d2c_wBin.ilp",
            "TrackingwLearning5t3d_wPred.ilp"]
MERGER_PROJECTS = ["TrackingwLearning5t2d1c_wBin.ilp", "TrackingwLearning5t2d2c_wBin.ilp"]


# -- the stub unpickler (tests only) -----------------------------------------------------------

class _Stub:
    def __init__(self, name):
        self.name, self.state = name, None

    def __setstate__(self, state):
        self.state = state


class _StubClass:
    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        return _Stub(self.name)


class _Array(_Stub):
    pass


class _Dtype(_Stub):
    def __init__(self, kind):
        super().__init__("numpy.dtype")
        self.kind = kind


class _StubUnpickler(pickle.Unpickler):
    """Admits stub classes, dict, object and numpy's array reconstruction as data only."""

    def find_class(self, module, name):
        full = f"{module}.{name}"
        if full == "copy_reg._reconstructor":
            return lambda cls, base, state: cls()
        if full in ("__builtin__.object", "__builtin__.dict"):
            return {"__builtin__.object": object, "__builtin__.dict": dict}[full]
        if full == "numpy.core.multiarray._reconstruct":
            return lambda cls, shape, dtype: _Array("ndarray")
        if full == "numpy.dtype":
            return lambda kind, align, copy: _Dtype(kind)
        if full == "_codecs.encode":
            return lambda text, encoding: text.encode(encoding)
        if full == "numpy.ndarray":
            return None
        if full.startswith(("hytra.", "networkx.")):
            return _StubClass(full)
        raise pickle.UnpicklingError(f"refusing {full}")


def _plain(obj):
    if isinstance(obj, _Array):
        _, shape, dtype, _, raw = obj.state
        order = dtype.state[1] if dtype.state and dtype.state[1] in "<>" else "="
        return np.frombuffer(raw, np.dtype(dtype.kind).newbyteorder(order)).reshape(shape)
    if isinstance(obj, _Stub):
        return {"class": obj.name, "state": _plain(obj.state)}
    if isinstance(obj, dict):
        return {_plain(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


@dataclass
class Stored:
    nodes: dict            # (t, label) -> node attributes (traxel features flattened in)
    edges: list            # ((t, label), (t, label), value) in networkx order


def stored_graph(file: h5py.File) -> Stored:
    raw = file["StructuredTracking/HypothesesGraph/0000"][()].tobytes()
    graph = _plain(_StubUnpickler(io.BytesIO(raw), encoding="latin1").load())["state"][0]["state"]
    nodes = {}
    for key, attributes in graph["node"].items():
        features = attributes["traxel"]["state"]["Features"]
        nodes[key] = dict(attributes, **{k: np.asarray(v, dtype=np.float64) for k, v in features.items()})
    edges = [(u, v, attrs.get("value", 0)) for u, adjacency in graph["adj"].items() for v, attrs in adjacency.items()]
    return Stored(nodes, edges)


# -- the projects ------------------------------------------------------------------------------

@dataclass
class Case:
    file: h5py.File
    project: object
    stored: Stored
    detections: Detections


@pytest.fixture(scope="module")
def cases(test_projects):
    opened = {}
    for name in PROJECTS:
        path = test_projects / name
        file = h5py.File(path, "r")
        project = read_tracking_project(file, read_project_file(file, path))
        stored = stored_graph(file)
        opened[name] = Case(file, project, stored, _detections(file, project, stored))
    yield opened
    for case in opened.values():
        case.file.close()


def _detections(file, project, stored: Stored) -> Detections:
    """Detections from the cached features, or from the stored graph where none are cached."""
    parameters = project.parameters
    count = ForestEnsemble(project.count_classifier.forests)
    division = ForestEnsemble(project.division_classifier.forests) if project.division_classifier else None
    parts = []
    for frame in range(parameters.time_range[0], parameters.time_range[1] + 1):
        features = read_stored_features(file, frame) if frame in project.stored_frames else None
        if features is not None and features["Default features"]["Count"].shape[0] > 1:
            probabilities = classifier_probabilities(count, project.count_classifier, features)
            dividing = (classifier_probabilities(division, project.division_classifier, features)
                        if division else None)
            parts.append(frame_detections(frame, features, probabilities, dividing, parameters))
            continue
        keys = sorted(key for key in stored.nodes if key[0] == frame)
        if keys:
            nodes = [stored.nodes[key] for key in keys]
            parts.append(Detections(
                np.full(len(keys), frame), np.array([key[1] for key in keys]), np.array([n["com"] for n in nodes]),
                np.array([n["detProb"][:parameters.max_objects + 1] for n in nodes]),
                np.array([n["divProb"][1] if "divProb" in n else np.nan for n in nodes])))
    return Detections.concatenate(parts)


def _unresolved(stored: Stored):
    """The stored solution before merger resolution: (values, links), split objects folded back
    into their merger (ilastik stores the graph after resolution)."""
    origin = {key: (key[0], node["mergerValue"]) for key, node in stored.nodes.items() if "mergerValue" in node}
    values: dict = {}
    for key, node in stored.nodes.items():
        values[origin.get(key, key)] = values.get(origin.get(key, key), 0) + node["value"]
    links: dict = {}
    for source, target, value in stored.edges:
        pair = (origin.get(source, source), origin.get(target, target))
        links[pair] = links.get(pair, 0) + value
    return values, links, origin


# -- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PROJECTS)
def test_probabilities_equal_the_stored_ones(cases, name):
    case = cases[name]
    index = {(int(t), int(label)): i for i, (t, label) in enumerate(zip(case.detections.frame, case.detections.label))}
    compared = 0
    for key, node in case.stored.nodes.items():
        if "detProb" not in node or key[0] not in case.project.stored_frames:
            continue
        row = index[key]
        states = case.project.parameters.max_objects + 1
        np.testing.assert_allclose(case.detections.detection[row], node["detProb"][:states], rtol=0, atol=1e-6)
        if "divProb" in node:
            np.testing.assert_allclose([1.0 - case.detections.division[row], case.detections.division[row]],
                                       node["divProb"], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(case.detections.center[row], node["com"])
        compared += 1
    assert compared >= 2


@pytest.mark.parametrize("name", PROJECTS)
def test_division_features_equal_the_cached_ones(cases, name):
    case = cases[name]
    frames = case.project.stored_frames
    for frame in frames:
        current = read_stored_features(case.file, frame)
        if current["Default features"]["Count"].shape[0] == 1:
            continue
        has_next = frame + 1 in frames
        following = read_stored_features(case.file, frame + 1)["Standard Object Features"] if has_next else None
        labels = read_stored_label_frame(case.file, frame + 1) if has_next else None
        ours = cell_division_features(current["Standard Object Features"], following, labels,
                                      case.project.division_features, frame, len(frames))
        cached = current["Cell Division Features"]
        assert set(ours) == set(cached)      # ilastik computes no ChildrenRatio_SquaredDistances
        for name_, values in cached.items():
            # angles come from math.acos, which may differ in the last bit between C libraries
            np.testing.assert_allclose(ours[name_], values, rtol=1e-13, atol=0, err_msg=f"frame {frame} {name_}")


@pytest.mark.parametrize("name", PROJECTS)
def test_candidate_graph_has_the_stored_nodes_and_links(cases, name):
    case = cases[name]
    parameters = case.project.parameters
    result = track_detections(case.detections, parameters,
                              lambda t: read_stored_label_frame(case.file, t), method="ilp")
    values, links, origin = _unresolved(case.stored)
    detections = result.candidates.detections
    keys = list(zip(detections.frame.tolist(), detections.label.tolist()))
    assert keys == sorted(values)                     # same nodes, in hytra's order (frame, label)
    ours = [(keys[s], keys[t]) for s, t in zip(result.candidates.source, result.candidates.target)]
    split = set(origin.values())
    stored_links = [(s, t) for s, t, _ in case.stored.edges if s not in origin and t not in origin]
    # links around mergers are only kept by ilastik where they were in use
    assert [link for link in ours if not split & set(link)] == stored_links
    assert {link for link in links if split & set(link)} <= set(ours)


@pytest.mark.parametrize("name", PROJECTS)
def test_solution_is_at_least_as_good_as_ilastiks(cases, name):
    case = cases[name]
    result = track_detections(case.detections, case.project.parameters,
                              lambda t: read_stored_label_frame(case.file, t), method="ilp")
    values, links, _ = _unresolved(case.stored)
    detections, tracklets, model = result.candidates.detections, result.tracklets, result.model
    keys = list(zip(detections.frame.tolist(), detections.label.tolist()))
    value = np.array([values[key] for key in keys])
    link_value = np.array([links.get((keys[s], keys[t]), 0)
                           for s, t in zip(result.candidates.source, result.candidates.target)])
    division = np.array([bool(case.stored.nodes[key]["divisionValue"]) if key in case.stored.nodes else False
                         for key in keys])
    node, link, divides = value[tracklets.first], link_value[tracklets.links], division[tracklets.last]
    assert not violations(model, node, link, divides)
    stored_energy = energy(model, node, link, divides)
    ours = result.solution
    assert ours.optimal
    assert ours.energy <= stored_energy + 1e-6 * abs(stored_energy)
    if abs(ours.energy - stored_energy) <= 1e-9 * abs(stored_energy):
        # the same energy: the same links and divisions unless two optima exist
        assert np.array_equal(ours.link, link) and np.array_equal(ours.division, divides)


@pytest.mark.parametrize("name", PROJECTS)
def test_lineage_numbering_equals_ilastiks(cases, name):
    stored = cases[name].stored
    keys = list(stored.nodes)
    index = {key: i for i, key in enumerate(keys)}
    nodes = [stored.nodes[key] for key in keys]
    graph = SolvedGraph(
        np.array([k[0] for k in keys]), np.array([k[1] for k in keys]), np.arange(len(keys)), np.zeros((len(keys), 3)),
        np.zeros((len(keys), 2)), np.full(len(keys), np.nan), np.array([n["value"] for n in nodes]),
        np.array([bool(n["divisionValue"]) for n in nodes]), np.array([n.get("mergerValue", 0) for n in nodes]),
        np.array([index[s] for s, _, _ in stored.edges]), np.array([index[t] for _, t, _ in stored.edges]),
        np.array([v for _, _, v in stored.edges]))
    lineage = compute_lineage(graph)
    assert lineage.track.tolist() == [NO_ID if n["trackId"] is None else n["trackId"] for n in nodes]
    assert lineage.lineage.tolist() == [NO_ID if n["lineageId"] is None else n["lineageId"] for n in nodes]


@pytest.mark.parametrize("name", [p for p in PROJECTS if p not in MERGER_PROJECTS])
def test_tracks_equal_ilastiks_where_the_solutions_agree(cases, name):
    case = cases[name]
    result = track_detections(case.detections, case.project.parameters, method="ilp")
    for i, key in enumerate(zip(result.graph.frame.tolist(), result.graph.label.tolist())):
        node = case.stored.nodes[key]
        assert result.graph.value[i] == node["value"]
        assert result.lineage.track[i] == (NO_ID if node["trackId"] is None else node["trackId"])
        assert result.lineage.lineage[i] == (NO_ID if node["lineageId"] is None else node["lineageId"])


@pytest.mark.parametrize("name", MERGER_PROJECTS)
def test_merger_resolution_splits_as_ilastik(cases, name):
    """ilastik's stored solution, resolved here: the same new objects and links (ilastik 1.3's
    mixture was scikit-learn's old GMM with diagonal covariances, so the split objects are
    matched by position and their centres compared to 3 pixels)."""
    from scipy.optimize import linear_sum_assignment

    case = cases[name]
    values, links, origin = _unresolved(case.stored)
    detections = case.detections
    keys = list(zip(detections.frame.tolist(), detections.label.tolist()))
    source = np.array([keys.index(s) for s, _ in links])
    target = np.array([keys.index(t) for _, t in links])
    graph = SolvedGraph(detections.frame, detections.label, np.arange(len(keys)), detections.center,
                        detections.detection, detections.division, np.array([values[k] for k in keys]),
                        np.zeros(len(keys), dtype=bool), np.zeros(len(keys), dtype=np.int64), source, target,
                        np.array(list(links.values())))
    resolved, fits = resolve_mergers(graph, lambda t: read_stored_label_frame(case.file, t))
    ours = list(zip(resolved.frame.tolist(), resolved.label.tolist()))
    assert ours == list(case.stored.nodes)
    assert sum(len(frame_fits) for frame_fits in fits.values()) == len(set(origin.values()))
    rename = {}
    for merger in set(origin.values()):
        stored_split = [key for key, m in origin.items() if m == merger]
        our_split = [i for i, key in enumerate(ours) if resolved.merger_label[i] == merger[1] and key[0] == merger[0]]
        distance = np.array([[np.linalg.norm(resolved.center[i] - case.stored.nodes[key]["com"]) for key in stored_split]
                             for i in our_split])
        rows, columns = linear_sum_assignment(distance)
        assert distance[rows, columns].max() < 3.0
        rename.update({ours[our_split[r]]: stored_split[c] for r, c in zip(rows, columns)})
    edges = {(rename.get(ours[s], ours[s]), rename.get(ours[t], ours[t]), int(v))
             for s, t, v in zip(resolved.source, resolved.target, resolved.link_value)}
    assert edges == set(case.stored.edges)


def test_conservation_tracking_projects_read_the_same(cases, tmp_path):
    """An (Animal) Conservation Tracking project keeps the same keys under ConservationTracking
    (trackingSerializer.py) and has no learned weights; built here from a fixture."""
    import shutil

    from pixelserve.project.tracking import CONSERVATION

    source = cases["TrackingwLearning5t2d1c_wPred.ilp"]
    path = tmp_path / "conservation.ilp"
    shutil.copy(source.file.filename, path)
    with h5py.File(path, "a") as file:
        file.move("StructuredTracking/Parameters", "ConservationTracking/Parameters")
        del file["StructuredTracking"]
        del file["workflowName"]
        file["workflowName"] = b"Animal Conservation Tracking Workflow from Prediction Image"
    with h5py.File(path, "r") as file:
        project = read_tracking_project(file, read_project_file(file, path))
    assert project.group == CONSERVATION and project.learned_weights is None
    assert project.parameters.animal_tracking
    assert project.parameters.max_distance == source.project.parameters.max_distance == 200
    headless = project.parameters.for_headless((7, 30, 20, 1))
    assert (headless.x_range, headless.y_range, headless.z_range, headless.time_range) == ((0, 30), (0, 20), (0, 1),
                                                                                            (0, 6))
    assert headless.max_nearest_neighbors == 3 and headless.solver_weights().detection == 10.0
