"""Reading Boundary-based Segmentation with Multicut projects ("Edge Training With Multicut").

Groups (ilastik's `wsdtSerializer.py`, `edgeTrainingSerializer.py`, `multicutSerializer.py`):

- `DT Watershed`: the watershed parameters, in current keys (Threshold, MinSize, Sigma, Alpha,
  PixelPitch, BlockwiseWatershed; StorageVersion 0.2) or in the keys of ilastik <= 1.3.3
  (Pmin, MinMembraneSize, MinSegmentSize, SigmaMinima, SigmaWeights, GroupSeeds,
  PreserveMembranePmaps; StorageVersion 0.1), and the cached superpixels of each lane
  (`Superpixels/superpixels%03d/block%04d`, each block with its `blockSlice`).
- `Training and Multicut`: `FeatureNames/<channel>`, `EdgeLabelsDict/EdgeLabels%04d`
  (`sp_ids`, `labels`: 1 merge, 2 cut), `Rags/Rag_%04d` and `EdgeFeatures/%04d` (the graph
  and features of the training lanes, as ilastikrag's frame layout: `column_index` is the
  repr of the column names, `columns/%03d` one dataset per column), `TrainRandomForest`
  (absent in old projects: True), the forests in `Output/Forest%04d` with `known_labels`
  and `feature_names`, and the multicut's `Beta`, `SolverName`, `ProbabilityThreshold`.

Legacy watershed parameters: ilastik >= 1.4 does not read them and recomputes new data with
its slot defaults (Threshold 0.5, MinSize 100, Sigma 3, Alpha 0.9), which gives superpixels
unlike those the edge classifier was trained on. pixelserve runs the algorithm those
parameters belong to (`legacy_superpixels`), which reproduces the projects' stored
superpixels exactly.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import h5py
import numpy as np

from ..classifiers import VigraForest, read_vigra_forest
from ..errors import ProjectError
from ..multicut.solvers import DEFAULT_SOLVER
from ..multicut.superpixels import LegacyWatershedSettings, WatershedSettings
from .h5values import as_text_list, read_array, read_scalar, read_text
from .ilp import ProjectFile
from .pixel_classification import _refuse_pickled_classifier

WORKFLOW_NAME = "Edge Training With Multicut"
# A project made with `--new_project --workflow=<class>` stores the class name.
WORKFLOW_NAMES = (WORKFLOW_NAME, "EdgeTrainingWithMulticutWorkflow")
WATERSHED_GROUP = "DT Watershed"
TRAINING_GROUP = "Training and Multicut"
# ilastik 1.3 came with ilastikrag >= 0.1.2, which widens the edge-quantile histogram.
WIDENED_EDGE_HISTOGRAM_SINCE = (1, 3, 0)


@dataclass(frozen=True)
class EdgeClassifier:
    """The trained edge random forest (ilastik's ParallelVigraRfLazyflowClassifier)."""

    forests: tuple[VigraForest, ...]
    known_labels: tuple[int, ...]
    feature_names: tuple[str, ...]   # the feature columns the forests read, in order


@dataclass(frozen=True)
class EdgeLabels:
    """One lane's edge annotations: superpixel id pairs and labels (1 merge, 2 cut)."""

    sp_ids: np.ndarray   # (N, 2)
    labels: np.ndarray   # (N,)


@dataclass(frozen=True)
class StoredEdgeFeatures:
    """A training lane's edge features as ilastik stored them."""

    edges: np.ndarray            # (E, 2) uint32 superpixel ids (sp1, sp2)
    names: tuple[str, ...]
    values: np.ndarray           # (E, F) float32


@dataclass(frozen=True)
class MulticutModel:
    """Everything needed to run a multicut project on new data."""

    project: ProjectFile
    watershed: WatershedSettings | LegacyWatershedSettings
    feature_names: dict          # channel name -> tuple of edge feature names (read-only)
    train_random_forest: bool
    classifier: EdgeClassifier | None
    beta: float
    solver_name: str             # as stored (see multicut.solvers.solver_name)
    probability_threshold: float
    edge_labels: tuple[EdgeLabels, ...]
    widen_edge_histogram: bool   # ilastikrag's edge-quantile quirk, by ilastik version


def read_multicut(file: h5py.File, project: ProjectFile) -> MulticutModel:
    """The multicut model of an open project file."""
    if project.workflow_name not in WORKFLOW_NAMES:
        raise ProjectError(f"{project.path.name} is a '{project.workflow_name}' project, not a "
                           f"'{WORKFLOW_NAME}' (Boundary-based Segmentation with Multicut) one.")
    if WATERSHED_GROUP not in file or TRAINING_GROUP not in file:
        raise ProjectError(f"{project.path.name} lacks its '{WATERSHED_GROUP}' or "
                           f"'{TRAINING_GROUP}' settings. Fix: open it in ilastik, visit both "
                           "applets and save the project.")
    training = file[TRAINING_GROUP]
    train_forest = bool(read_scalar(training, "TrainRandomForest", True))
    classifier = _read_classifier(training, project) if train_forest else None
    return MulticutModel(
        project=project,
        watershed=read_watershed_settings(file[WATERSHED_GROUP], project.path.name),
        feature_names=_read_feature_names(training),
        train_random_forest=train_forest,
        classifier=classifier,
        beta=float(read_scalar(training, "Beta", 0.5)),
        solver_name=read_text(training, "SolverName", DEFAULT_SOLVER) or DEFAULT_SOLVER,
        probability_threshold=float(read_scalar(training, "ProbabilityThreshold", 0.5)),
        edge_labels=_read_edge_labels(training),
        widen_edge_histogram=project.version_tuple() >= WIDENED_EDGE_HISTOGRAM_SINCE,
    )


def read_watershed_settings(group: h5py.Group, project_name: str = "The project"
                            ) -> WatershedSettings | LegacyWatershedSettings:
    channels = tuple(int(c) for c in np.asarray(read_array(group, "ChannelSelections", [0]))
                     .reshape(-1))
    if "ChannelSelections" in group and group["ChannelSelections"].attrs.get("isEmpty", False):
        channels = ()
    if not channels:
        raise ProjectError(f"{project_name} selects no probability channel for its watershed. "
                           "Fix: choose the boundary channel in ilastik's DT Watershed applet "
                           "and save the project.")
    if "Threshold" not in group and "Pmin" in group:
        return LegacyWatershedSettings(
            channels=channels,
            pmin=float(read_scalar(group, "Pmin", 0.5)),
            min_membrane_size=int(read_scalar(group, "MinMembraneSize", 0)),
            min_segment_size=int(read_scalar(group, "MinSegmentSize", 0)),
            sigma_minima=float(read_scalar(group, "SigmaMinima", 3.0)),
            sigma_weights=float(read_scalar(group, "SigmaWeights", 0.0)),
            group_seeds=bool(read_scalar(group, "GroupSeeds", False)),
            preserve_membrane_pmaps=bool(read_scalar(group, "PreserveMembranePmaps", False)),
        )
    pitch = read_array(group, "PixelPitch")
    return WatershedSettings(
        channels=channels,
        threshold=float(read_scalar(group, "Threshold", 0.5)),
        min_size=int(read_scalar(group, "MinSize", 100)),
        sigma=float(read_scalar(group, "Sigma", 3.0)),
        alpha=float(read_scalar(group, "Alpha", 0.9)),
        pixel_pitch=tuple(float(p) for p in np.asarray(pitch).reshape(-1)) if pitch is not None
        else (),
        # A project saved before ilastik had blockwise mode ran on the whole image.
        blockwise=bool(read_scalar(group, "BlockwiseWatershed", False)),
    )


def read_stored_superpixels(file: h5py.File, lane: int) -> np.ndarray | None:
    """The superpixels ilastik cached for a lane ((z,) y, x uint32), or None (also when the
    cache holds only some blocks of the image)."""
    group = file.get(f"{WATERSHED_GROUP}/Superpixels/superpixels{lane:03d}")
    if group is None or not len(group):
        return None
    blocks = []
    for name in sorted(group):
        dataset = group[name]
        slicing = _parse_block_slice(read_text(dataset.attrs, "blockSlice", "")
                                     if "blockSlice" in dataset.attrs else "", dataset.shape)
        blocks.append((slicing, dataset))
    shape = tuple(max(s[axis].stop for s, _ in blocks) for axis in range(len(blocks[0][0])))
    labels = np.zeros(shape, dtype=np.uint32)
    covered = np.zeros(shape, dtype=bool)
    for slicing, dataset in blocks:
        labels[slicing] = dataset[()]
        covered[slicing] = True
    if not covered.all():
        return None   # ilastik saved only the blocks it had computed: not a whole image
    return labels[..., 0] if labels.shape[-1] == 1 else labels


def read_stored_edge_features(file: h5py.File, lane: int) -> StoredEdgeFeatures | None:
    """A lane's stored edge feature frame (for checks against recomputed features)."""
    group = file.get(f"{TRAINING_GROUP}/EdgeFeatures/{lane:04d}")
    if group is None:
        return None
    names, columns = read_frame(group)
    if names[:2] != ["sp1", "sp2"]:
        raise ProjectError(f"The stored edge features of lane {lane} start with {names[:2]} "
                           "instead of sp1, sp2. Fix: recompute them in ilastik.")
    values = np.stack(columns[2:], axis=1).astype(np.float32) if len(columns) > 2 else \
        np.zeros((len(columns[0]), 0), dtype=np.float32)
    return StoredEdgeFeatures(edges=np.stack(columns[:2], axis=1).astype(np.uint32),
                              names=tuple(names[2:]), values=values)


def read_stored_rag_edges(file: h5py.File, lane: int) -> np.ndarray | None:
    """A lane's stored region adjacency graph edges ((E, 2) uint32), or None."""
    tables = file.get(f"{TRAINING_GROUP}/Rags/Rag_{lane:04d}/unique_edge_tables")
    if tables is None or not len(tables):
        return None
    names, columns = read_frame(tables[max(tables, key=len)])
    return np.stack([columns[names.index("sp1")], columns[names.index("sp2")]],
                    axis=1).astype(np.uint32)


def read_frame(group: h5py.Group) -> tuple[list[str], list[np.ndarray]]:
    """An ilastikrag frame: column names (parsed from the stored repr, never evaluated as
    code) and one array per column."""
    text = read_text(group, "column_index", "")
    match = re.search(r"\[(.*)\]", text, flags=re.DOTALL)
    try:
        names = list(ast.literal_eval("[" + match.group(1) + "]")) if match else []
    except (ValueError, SyntaxError):
        names = []
    if not names or not all(isinstance(name, str) for name in names):
        raise ProjectError(f"The table {group.name} has an unreadable column index "
                           f"({text[:60]!r}). Fix: recompute it in ilastik.")
    columns = [group[f"columns/{index:03d}"][()] for index in range(len(names))]
    return names, columns


def _read_feature_names(training: h5py.Group) -> dict:
    group = training.get("FeatureNames")
    if group is None:
        return {}
    return {name: tuple(as_text_list(group[name])) for name in group}


def _read_edge_labels(training: h5py.Group) -> tuple[EdgeLabels, ...]:
    group = training.get("EdgeLabelsDict")
    if group is None:
        return ()
    lanes = []
    for name in sorted(group):
        sp_ids = np.asarray(group[name]["sp_ids"][()]).reshape(-1, 2)
        labels = np.asarray(group[name]["labels"][()]).reshape(-1)
        lanes.append(EdgeLabels(sp_ids=sp_ids, labels=labels))
    return tuple(lanes)


def _read_classifier(training: h5py.Group, project: ProjectFile) -> EdgeClassifier | None:
    output = training.get("Output")
    where = f"{project.path.name} ({TRAINING_GROUP})"
    _refuse_pickled_classifier(output, where)
    if output is None or not any(name.startswith("Forest") for name in output):
        return None
    forests = tuple(read_vigra_forest(output[name])
                    for name in sorted(output) if name.startswith("Forest"))
    known = read_array(output, "known_labels")
    known = forests[0].labels if known is None else known
    names = read_array(output, "feature_names")
    return EdgeClassifier(
        forests=forests,
        known_labels=tuple(int(k) for k in np.asarray(known).reshape(-1)),
        feature_names=tuple(as_text_list(names)) if names is not None else (),
    )


def _parse_block_slice(text: str, shape) -> tuple[slice, ...]:
    """'[0:50,0:60,0:55,0:1]' as slices (the whole dataset when absent)."""
    parts = re.findall(r"(\d+)\s*:\s*(\d+)", text)
    if len(parts) != len(shape):
        return tuple(slice(0, n) for n in shape)
    return tuple(slice(int(a), int(b)) for a, b in parts)
