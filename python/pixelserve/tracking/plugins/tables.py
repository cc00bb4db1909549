"""CSV-Table, JSON and H5-Event-Sequence exports.

CSV-Table (tracking_csv_export.py): one row per detection of the graph, sorted by (frame,
label); columns frame, labelimageId, trackId, lineageId (-1 without), parentTrackId (the
dividing mother's track, else 0), mergerLabelId (the merger a split object came from, else 0),
then every feature of the first detection's frame: plugins in the table's order, features
sorted, "Histogram" left out, "Standard Object Features" that "Default features" also hold
left out, one column per array column named `<display name>_<column>` (spaces as "_"; the
display names of ilastik's `_getFeatureNameTranslation`: `objects.catalog.display_name`);
columns whose name contains Number_of, Center_of or Bounding_Box (or is Size_in_pixels) are
written as integers (truncated), the rest with "%f"; missing rows give 0 (9999 for
SquaredDistances).

JSON (tracking_json_export.py before a5f4e16f1): `<path>_graph.json` with hytra's model of the
solved detection graph (energies recomputed per detection, not convexified; split mergers'
objects get zero probabilities) and `<path>_result.json` with the solution
(`getSolutionDictionary`), both `json.dump(indent=4, separators=(",", ": "))`.

H5-Event-Sequence (tracking_h5_event_export.py before a5f4e16f1): `<folder>/<frame:05d>.h5` for
every frame with detections: `segmentation/labels` (1, x, y, z, 1), `objects/meta/{id,valid}`,
and `tracking/Moves` (from, to), `tracking/Splits` (mother, child, child), `tracking/Mergers`
(label, count) of the links, divisions and mergers arriving in that frame.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from ...objects.catalog import DEFAULT, STANDARD, display_name
from ..detections import Detections
from ..energies import energy_features
from ..graph import CandidateGraph, single_tracklets
from .context import TrackingExport

_INTEGER_MARKS = ("Number_of", "Center_of", "Bounding_Box")
_SETTINGS = {"statesShareWeights": True, "allowPartialMergerAppearance": False,
             "requireSeparateChildrenOfDivision": True, "optimizerEpGap": 0.01, "optimizerVerbose": True,
             "optimizerNumThreads": 1}


def csv_table(export: TrackingExport) -> dict[str, np.ndarray]:
    """The CSV-Table's columns (see the module docstring): int64 where ilastik prints "%d"
    (values truncated as "%d" truncates), float64 elsewhere; rows sorted by (frame, label)."""
    graph, lineage = export.graph, export.lineage
    features_of = export.need_features("CSV-Table")
    sample = features_of(int(graph.frame[0])) if len(graph) else {}
    columns = _feature_columns(sample, export)
    headers = ["frame", "labelimageId", "trackId", "lineageId", "parentTrackId", "mergerLabelId"]
    integral = [True] * len(headers)
    for _, _, name in columns:
        headers.append(name)
        integral.append(any(mark in name for mark in _INTEGER_MARKS) or name == "Size_in_pixels")
    table = np.zeros((len(graph), len(headers)))
    table[:, 0] = graph.frame
    table[:, 1] = graph.label
    table[:, 2] = lineage.track
    table[:, 3] = lineage.lineage
    has_parent = lineage.parent >= 0
    table[has_parent, 4] = lineage.track[lineage.parent[has_parent]]
    table[:, 5] = graph.merger_label
    for frame in np.unique(graph.frame).tolist():
        rows = export.frame_nodes(frame)
        features = features_of(frame)
        for offset, (plugin, feature, _) in enumerate(columns):
            name, column = feature
            values = np.asarray(features[plugin][name])
            values = values.reshape(values.shape[0], -1)
            labels = graph.label[rows]
            inside = labels < values.shape[0]
            default = 9999.0 if "SquaredDistances" in name else 0.0
            table[rows, 6 + offset] = np.where(inside, values[np.minimum(labels, values.shape[0] - 1), column],
                                               default)
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    return {name: table[:, i].astype(np.int64) if whole else table[:, i]
            for i, (name, whole) in enumerate(zip(headers, integral))}


def write_csv_table(path: Path, export: TrackingExport) -> list[Path]:
    columns = csv_table(export)
    target = path.with_name(path.name + ".csv")
    np.savetxt(target, np.column_stack(list(columns.values())) if columns else np.zeros((0, 0)),
               header=",".join(columns), delimiter=",", comments="",
               fmt=["%d" if values.dtype.kind == "i" else "%f" for values in columns.values()])
    return [target]


def _feature_columns(features, export: TrackingExport) -> list[tuple[str, tuple[str, int], str]]:
    """(plugin, (feature, column), header) of every feature column ilastik writes."""
    blocked = set(features.get(DEFAULT, {})) if DEFAULT in features and \
        STANDARD in features else set()
    columns = []
    for plugin, table in features.items():
        for name in sorted(table):
            if name == "Histogram" or (plugin == STANDARD and name in blocked):
                continue
            label = display_name(plugin, name).replace(" ", "_")
            values = np.asarray(table[name])
            if values.ndim == 2:
                columns += [(plugin, (name, c), f"{label}_{c}") for c in range(values.shape[1])]
            elif values.ndim == 1:
                columns.append((plugin, (name, 0), label))
    return columns


def write_json(path: Path, export: TrackingExport) -> list[Path]:
    graph = export.graph
    detections = Detections(graph.frame, graph.label, graph.center, graph.detection, graph.division_probability)
    candidates = CandidateGraph(detections, graph.source, graph.target)
    features = energy_features(candidates, single_tracklets(candidates), export.parameters)
    uuid = graph.uuid.tolist()
    hypotheses = []
    for i in range(len(graph)):
        entry = {"id": uuid[i], "features": _listify(features.detection[i]),
                 "appearanceFeatures": _listify(features.appearance[i]),
                 "disappearanceFeatures": _listify(features.disappearance[i])}
        if not np.isnan(features.division[i, 0]):
            entry["divisionFeatures"] = _listify(features.division[i])
        entry["timestep"] = [int(graph.frame[i])] * 2
        hypotheses.append(entry)
    links = [{"src": uuid[s], "dest": uuid[t], "features": _listify(row)}
             for s, t, row in zip(graph.source.tolist(), graph.target.tolist(), features.transition)]
    traxels: dict[str, dict[str, int]] = {}
    for frame, label, node in zip(graph.frame.tolist(), graph.label.tolist(), uuid):
        traxels.setdefault(str(frame), {})[str(label)] = node
    model = {"segmentationHypotheses": hypotheses, "linkingHypotheses": links, "divisionHypotheses": [],
             "traxelToUniqueId": traxels, "settings": dict(_SETTINGS), "exclusions": []}
    result = {
        "detectionResults": [{"id": node, "value": int(v)} for node, v in zip(uuid, graph.value.tolist())],
        "linkingResults": [{"src": uuid[s], "dest": uuid[t], "value": int(v), "gap": 1} for s, t, v in
                           zip(graph.source.tolist(), graph.target.tolist(), graph.link_value.tolist())],
        "divisionResults": [{"id": node, "value": bool(d)} for node, d in zip(uuid, graph.division.tolist())],
    }
    written = []
    for suffix, content in (("_graph.json", model), ("_result.json", result)):
        target = path.with_name(path.name + suffix)
        with open(target, "w") as file:
            json.dump(content, file, indent=4, separators=(",", ": "))
        written.append(target)
    return written


def _listify(values) -> list[list[float]]:
    return [[float(v)] for v in values]


def write_h5_event_sequence(path: Path, export: TrackingExport) -> list[Path]:
    graph = export.graph
    path.mkdir(parents=True, exist_ok=True)
    used = graph.link_value > 0
    written = []
    for frame in dict.fromkeys(graph.frame.tolist()):
        labels = export.label_frame(frame)
        arriving = used & (graph.frame[graph.target] == frame)
        moves = np.stack([graph.label[graph.source[arriving]], graph.label[graph.target[arriving]]], axis=1)
        splits = []
        for mother in np.flatnonzero(graph.division & (graph.frame == frame - 1)).tolist():
            children = graph.label[graph.target[arriving & (graph.source == mother)]]
            splits.append([int(graph.label[mother])] + children.tolist())
        in_frame = graph.frame == frame
        mergers = np.stack([graph.label[in_frame & (graph.value > 1)], graph.value[in_frame & (graph.value > 1)]],
                           axis=1)
        target = path / f"{frame:05d}.h5"
        with h5py.File(target, "w") as file:
            file.create_dataset("segmentation/labels", data=np.transpose(labels, (2, 1, 0))[None, ..., None],
                                compression="gzip")
            ids = np.unique(labels)
            ids = ids[ids > 0]
            file.create_dataset("objects/meta/id", data=ids, dtype=np.uint32)
            file.create_dataset("objects/meta/valid", data=np.ones(ids.shape), dtype=np.uint32)
            tracking = file.create_group("tracking")
            for name, data, text in (
                    ("Moves", moves, "from (previous file), to (current file)"),
                    ("Splits", np.asarray(splits, dtype=np.int64).reshape(-1, 3),
                     "ancestor (previous file), descendant (current file), descendant (current file)"),
                    ("Mergers", mergers, "descendant (current file), number of objects")):
                if len(data):
                    tracking.create_dataset(name, data=data, dtype=np.int32).attrs["Format"] = text
        written.append(target)
    return written
