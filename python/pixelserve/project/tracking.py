"""Reading ilastik's tracking projects: Tracking with Learning and (Animal) Conservation Tracking.

Layout (facts from ilastik's serializers, checked against the `TrackingwLearning*.ilp` fixtures):

- `ThresholdTwoLevels/*`: object extraction from prediction maps (absent for binary input);
- `TrackingFeatureExtraction/FeatureNamesVigra/<plugin>/<feature>/<param>` and
  `.../FeatureNamesDivision/Cell Division Features/<feature>`: the object features computed;
  `.../RegionFeaturesVigra/<lane:04d>/'[[t], [t+1]]'/<plugin>/<feature>` and
  `.../RegionFeaturesDivision/...`: their cached values per frame (row 0 = background; may be
  stale: ilastik stores whatever its cache held), `.../LabelImage_v2/labelimage<lane:03d>/block*`:
  the cached object label frames (`trackingFeatureExtractionSerializer.py`);
- `CountClassification` (object count: "False Detection", "1 Object", ...) and
  `DivisionDetection` ("Not Dividing", "Dividing"): object classifiers in the object
  classification layout (vigra forests, `LabelNames`, `SelectedFeatures`);
- `StructuredTracking` (`structuredTrackingSerializer.py`) or `ConservationTracking`
  (`trackingSerializer.py`, group name in `conservationTrackingApplet.py:12`): `Parameters/*`
  (one dataset per key of the operator's parameter dict), the learned weights
  `{Transition,Detection,Division,Appearance,Disappearance}Weight/0000` (structured learning
  only) and pickles (hypotheses graph, resolved mergers, export settings) that pixelserve never
  unpickles.

Nothing here unpickles; pickled groups are only skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import h5py
import numpy as np

from ..classifiers import VigraForest, read_vigra_forest
from ..errors import ProjectError
from ..objects.catalog import DIVISION, FeatureSelection
from ..objects.segmentation import ThresholdSettings
from .h5values import as_text, as_text_list, read_scalar
from .ilp import ProjectFile
from .label_sets import parse_block_slice
from .object_classification import read_feature_selection, read_threshold_settings

STRUCTURED = "StructuredTracking"
CONSERVATION = "ConservationTracking"

# workflowName -> (group holding the tracking parameters, input kind, animal tracking)
TRACKING_WORKFLOWS = {
    "Structured Learning Tracking Workflow from prediction image": (STRUCTURED, "prediction", False),
    "Structured Learning Tracking Workflow from binary image": (STRUCTURED, "binary", False),
    "Automatic Tracking Workflow (Conservation Tracking) from prediction image":
        (CONSERVATION, "prediction", False),
    "Automatic Tracking Workflow (Conservation Tracking) from binary image": (CONSERVATION, "binary", False),
    "Animal Conservation Tracking Workflow from Prediction Image": (CONSERVATION, "prediction", True),
    "Animal Conservation Tracking Workflow from Binary Image": (CONSERVATION, "binary", True),
}

# ilastik hard-codes the detection weight at solve time (opConservationTracking.py:529); the
# stored detWeight and the learned DetectionWeight are kept but never used by track().
SOLVER_DETECTION_WEIGHT = 10.0
# ilastik's default when a project never stored the key (opConservationTracking.track defaults).
HEADLESS_NEAREST_NEIGHBORS = 3

_FEATURES = "TrackingFeatureExtraction"
_RETRAIN = "Fix: open the project in ilastik, train it and save it again."


@dataclass(frozen=True)
class TrackingWeights:
    """The five energy weights in the order hytra passes them to its solvers
    (`weightsListToDict([trans, det, div, app, dis])`, hytra jsongraph.py)."""

    transition: float
    detection: float
    division: float
    appearance: float
    disappearance: float

    def as_list(self) -> list[float]:
        return [self.transition, self.detection, self.division, self.appearance, self.disappearance]


@dataclass(frozen=True)
class TrackingParameters:
    """The tracking applet's `Parameters` dict, with ilastik's defaults for keys old projects
    lack (`OpConservationTracking.track` keyword defaults)."""

    max_distance: float = 30.0
    max_objects: int = 2
    division_threshold: float = 0.5
    with_divisions: bool = True
    with_merger_resolution: bool = True
    with_tracklets: bool = False
    with_classifier_prior: bool = False
    border_width: float = 0.0
    max_nearest_neighbors: int = HEADLESS_NEAREST_NEIGHBORS
    size_range: tuple[int, int] = (0, 100000)
    x_range: tuple[int, int] | None = None
    y_range: tuple[int, int] | None = None
    z_range: tuple[int, int] | None = None
    time_range: tuple[int, int] | None = None      # inclusive, as ilastik stores it
    scales: tuple[float, float, float] = (1.0, 1.0, 1.0)
    transition_weight: float = 10.0
    detection_weight: float = 10.0
    division_weight: float = 10.0
    appearance_cost: float = 500.0
    disappearance_cost: float = 500.0
    solver: str = "Flow-based"
    frames_per_split: int = 0
    animal_tracking: bool = False

    def solver_weights(self) -> TrackingWeights:
        """The weights ilastik's track() hands the solver: the stored detection weight replaced
        by 10.0 (opConservationTracking.py:529, inherited by structured learning)."""
        return TrackingWeights(self.transition_weight, SOLVER_DETECTION_WEIGHT, self.division_weight,
                               self.appearance_cost, self.disappearance_cost)

    def for_headless(self, shape_txyz: tuple[int, int, int, int]) -> TrackingParameters:
        """The parameters headless ilastik actually tracks with: every frame and the whole image
        (the stored x/y/z/time ranges are GUI state), and max_nearest_neighbors at track()'s
        default, which the batch call does not pass (conservationTrackingWorkflow.py:345-378,
        structuredTrackingWorkflow.py runLearningAndTracking)."""
        t, x, y, z = (int(s) for s in shape_txyz)
        return replace(self, x_range=(0, x), y_range=(0, y), z_range=(0, z), time_range=(0, t - 1),
                       max_nearest_neighbors=HEADLESS_NEAREST_NEIGHBORS)


@dataclass
class ObjectClassifier:
    """One object classifier of a tracking project (object count or division detection)."""

    group: str                              # "CountClassification" or "DivisionDetection"
    label_names: list[str]
    forests: list[VigraForest]
    selected_features: FeatureSelection      # the features the classifier reads

    @property
    def n_classes(self) -> int:
        return len(self.label_names)


@dataclass
class TrackingProject:
    """Everything a tracking workflow needs from one project file."""

    project: ProjectFile
    group: str                                  # STRUCTURED or CONSERVATION
    input_kind: str                             # "prediction" or "binary"
    parameters: TrackingParameters
    learned_weights: TrackingWeights | None     # structured learning only
    threshold: ThresholdSettings | None         # None for binary input
    object_features: FeatureSelection           # what TrackingFeatureExtraction computes
    division_features: list[str]
    count_classifier: ObjectClassifier | None
    division_classifier: ObjectClassifier | None
    stored_frames: list[int] = field(default_factory=list)   # frames with cached features


def is_tracking_workflow(workflow_name: str) -> bool:
    return workflow_name in TRACKING_WORKFLOWS


def read_tracking_project(file: h5py.File, project: ProjectFile) -> TrackingProject:
    """The tracking settings, feature selections and classifiers of an open project file."""
    if project.workflow_name not in TRACKING_WORKFLOWS:
        raise ProjectError(f"{project.path.name} is a '{project.workflow_name}' project, not a tracking "
                           "project. Fix: pass a Tracking with Learning or Conservation Tracking project.")
    group, input_kind, animal = TRACKING_WORKFLOWS[project.workflow_name]
    where = f"{project.path.name} ({group})"
    if group not in file or "Parameters" not in file[group]:
        raise ProjectError(f"{where} stores no tracking parameters: the project was never tracked. "
                           "Fix: open it in ilastik, press Track once and save it.")
    parameters = _read_parameters(file[group]["Parameters"], animal)
    count = _read_classifier(file, "CountClassification")
    division = _read_classifier(file, "DivisionDetection")
    if count is None:
        raise ProjectError(f"{project.path.name} has no trained object count classifier, which ilastik's "
                           "tracking needs for its detection energies. Fix: open the project in ilastik, "
                           "label objects in Object Count Classification, and save it.")
    if not parameters.with_classifier_prior:
        # hytra reads every detection's energies from the count classifier (getDetectionFeatures);
        # without the prior ilastik's traxels carry none and its tracking stops with an error
        raise ProjectError(f"{where}: 'Use classifier prior' is off, which ilastik's tracking cannot run "
                           "with (its detections then have no energies). Fix: tick it in ilastik's "
                           "tracking applet and save the project.")
    if parameters.with_divisions and division is None:
        raise ProjectError(f"{project.path.name} tracks dividing objects but has no trained division "
                           "classifier. Fix: train Division Detection in ilastik (or untick 'Divisible "
                           "Objects') and save the project.")
    if count.n_classes < parameters.max_objects + 1:
        raise ProjectError(f"{where}: 'Max. Objects per merger' is {parameters.max_objects} but the object "
                           f"count classifier has only {count.n_classes} classes. Fix: make both agree in "
                           "ilastik and save the project.")
    features = file.get(_FEATURES)
    return TrackingProject(
        project=project,
        group=group,
        input_kind=input_kind,
        parameters=parameters,
        learned_weights=_read_learned_weights(file[group]),
        threshold=read_threshold_settings(file) if input_kind == "prediction" else None,
        object_features=read_feature_selection(features.get("FeatureNamesVigra")) if features else {},
        division_features=sorted(read_feature_selection(features.get("FeatureNamesDivision")).get(
            DIVISION, {})) if features else [],
        count_classifier=count,
        division_classifier=division if parameters.with_divisions else None,
        stored_frames=stored_feature_frames(file),
    )


# ilastik's parameter key -> (TrackingParameters field, conversion)
_PARAMETER_KEYS = {
    "maxDist": ("max_distance", float), "maxObj": ("max_objects", int), "divThreshold": ("division_threshold", float),
    "withDivisions": ("with_divisions", bool), "withMergerResolution": ("with_merger_resolution", bool),
    "withTracklets": ("with_tracklets", bool), "withClassifierPrior": ("with_classifier_prior", bool),
    "borderAwareWidth": ("border_width", float), "maxNearestNeighbors": ("max_nearest_neighbors", int),
    "scales": ("scales", lambda values: tuple(float(v) for v in values)),
    "transWeight": ("transition_weight", float), "detWeight": ("detection_weight", float),
    "divWeight": ("division_weight", float), "appearanceCost": ("appearance_cost", float),
    "disappearanceCost": ("disappearance_cost", float), "solver": ("solver", str),
    "numFramesPerSplit": ("frames_per_split", int),
}


def _read_parameters(group: h5py.Group, animal: bool) -> TrackingParameters:
    def value(key, default):
        if key not in group:
            return default
        raw = group[key][()]
        if isinstance(raw, (bytes, np.bytes_)) or (isinstance(raw, np.ndarray) and raw.dtype.kind in "OSU"):
            return as_text(raw)
        if isinstance(raw, np.ndarray):
            return [v.item() for v in raw.reshape(-1)]
        return raw.item() if isinstance(raw, np.generic) else raw

    def pair(key):
        stored = value(key, None)
        return None if stored is None else (int(stored[0]), int(stored[1]))

    defaults = TrackingParameters()
    values = {name: convert(value(key, getattr(defaults, name))) for key, (name, convert) in _PARAMETER_KEYS.items()}
    # 1.3 projects store the neighbour count under both spellings; older ones only the first.
    values["max_nearest_neighbors"] = int(value("max_nearest_neighbors", values["max_nearest_neighbors"]))
    for name, key in (("x_range", "x_range"), ("y_range", "y_range"), ("z_range", "z_range"),
                       ("time_range", "time_range"), ("size_range", "size_range")):
        values[name] = pair(key) or getattr(defaults, name)
    values["animal_tracking"] = animal or bool(value("withAnimalTracking", False))
    return TrackingParameters(**values)


def _read_learned_weights(group: h5py.Group) -> TrackingWeights | None:
    names = ("TransitionWeight", "DetectionWeight", "DivisionWeight", "AppearanceWeight",
             "DisappearanceWeight")
    if not all(f"{name}/0000" in group for name in names):
        return None
    return TrackingWeights(*(float(read_scalar(group[name], "0000")) for name in names))


def _read_classifier(file: h5py.File, name: str) -> ObjectClassifier | None:
    group = file.get(name)
    if group is None:
        return None
    forests_group = group.get("ClassifierForests")
    names = sorted(key for key in forests_group if key.startswith("Forest")) if forests_group else []
    if not names:
        return None
    forests = [read_vigra_forest(forests_group[key]) for key in names]
    label_names = as_text_list(group["LabelNames"]) if "LabelNames" in group else []
    selected = read_feature_selection(group.get("SelectedFeatures"))
    if not label_names or forests[0].n_classes > len(label_names):
        raise ProjectError(f"{file.filename} ({name}): the classifier has {forests[0].n_classes} classes "
                           f"but {len(label_names)} label names are stored. {_RETRAIN}")
    return ObjectClassifier(group=name, label_names=label_names, forests=forests, selected_features=selected)


_FRAME_KEY = re.compile(r"\[\[(\d+)\], \[(\d+)\]\]")


def stored_feature_frames(file: h5py.File, lane: int = 0) -> list[int]:
    """Frames whose object features the project caches (frames with no objects included)."""
    group = file.get(f"{_FEATURES}/RegionFeaturesVigra/{lane:04d}")
    if group is None:
        return []
    return sorted(int(m.group(1)) for m in map(_FRAME_KEY.fullmatch, group) if m)


def read_stored_features(file: h5py.File, frame: int, lane: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """plugin -> feature -> (objects + 1, k) array of one frame's cached features, the division
    features included where cached (ilastik's `RegionFeaturesAll`, opTrackingFeatureExtraction.py)."""
    key = f"[[{frame}], [{frame + 1}]]"
    features: dict[str, dict[str, np.ndarray]] = {}
    for part in ("RegionFeaturesVigra", "RegionFeaturesDivision"):
        group = file.get(f"{_FEATURES}/{part}/{lane:04d}/{key}")
        if group is None:
            continue
        for plugin, arrays in group.items():
            features[plugin] = {name: np.asarray(dataset[()]) for name, dataset in arrays.items()}
    if not features:
        raise ProjectError(f"{file.filename} caches no object features for frame {frame}. Fix: compute the "
                           "objects from the project's inputs instead.")
    return features


def read_stored_label_frame(file: h5py.File, frame: int, lane: int = 0) -> np.ndarray | None:
    """The cached object label image of one frame as a (z, y, x) uint32 array, or None when the
    project caches no complete label image of that frame. ilastik stores (t, x, y, z, c) blocks,
    each with a `blockSlice` attribute."""
    group = file.get(f"{_FEATURES}/LabelImage_v2/labelimage{lane:03d}")
    if group is None:
        return None
    pieces = []
    for block in group.values():
        bounds = parse_block_slice(block.attrs["blockSlice"])
        if bounds[0][0] <= frame < bounds[0][1]:
            pieces.append((bounds[1:4], np.asarray(block[frame - bounds[0][0], ..., 0])))
    if not pieces:
        return None
    shape = tuple(max(b[axis][1] for b, _ in pieces) for axis in range(3))
    labels = np.zeros(shape, dtype=np.uint32)
    covered = np.zeros(shape, dtype=bool)
    for (bx, by, bz), data in pieces:
        box = (slice(*bx), slice(*by), slice(*bz))
        labels[box] = data
        covered[box] = True
    if not covered.all():
        return None
    return np.ascontiguousarray(labels.transpose(2, 1, 0))
