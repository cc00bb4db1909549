"""The per-object table as ilastik's `--table_filename` CSV has it, as named columns.

ilastik (`opObjectClassification.py` `do_export`, `ilastik/utility/exportFile.py`
`flatten_ilastik_feature_table`) writes one row per object of every frame, in (frame, id)
order: `object_id` (running, 0-based), `timestep`, `labelimage_oid` (the id in its frame),
`User Label` ("0" or the class name), `Predicted Class`, `Probability of <class>`..., then the
features: plugins in the order they were computed, "Default features" last, each feature
under its display name (`Size in pixels`, `Bounding Box Minimum`, ...), multi-column ones
with `_<i>` suffixes, a display name that already appeared skipped (so the default features
show up once). Feature values stay float32, as ilastik prints them; ids (the label-image
variant's `original_oid`) stay integers.

A project without a classifier gets no prediction and probability columns (ilastik cannot
export its table at all then).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .catalog import DEFAULT, FeatureSelection, display_name
from .classify import predicted_classes


def object_table(features: Sequence[dict[str, dict[str, np.ndarray]]], selection: FeatureSelection, *,
                 label_names: Sequence[str] = (),
                 user_labels: Sequence[np.ndarray | None] | None = None,
                 probabilities: Sequence[np.ndarray] | None = None,
                 timesteps: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Ordered columns of the object table of one lane.

    features: per frame, `compute_object_features`' result; selection: the features to list
    (plugin -> feature -> margin; the default features are always listed); user_labels: per
    frame, the class of each object id (ilastik's LabelInputs: 0 unlabelled, ids beyond the
    end unlabelled); probabilities: per frame (n + 1, K) from `predict_objects`, or None
    without a classifier; timesteps: the frame numbers (default 0, 1, ...)."""
    timesteps = list(range(len(features))) if timesteps is None else list(timesteps)
    counts = [_object_count(frame) for frame in features]
    names = np.array(["0", *label_names], dtype=object)
    columns: dict[str, np.ndarray] = {
        "object_id": np.arange(sum(counts), dtype=np.int64),
        "timestep": np.repeat(np.asarray(timesteps, dtype=np.int64), counts),
        "labelimage_oid": np.concatenate([np.arange(1, n + 1, dtype=np.int64) for n in counts])
        if counts else np.zeros(0, dtype=np.int64),
    }
    labels = [_user_labels(user_labels[i] if user_labels is not None else None, n)
              for i, n in enumerate(counts)]
    columns["User Label"] = names[np.concatenate(labels)] if labels else names[:0]
    if probabilities is not None:
        predicted = [predicted_classes(p)[1:] for p in probabilities]
        columns["Predicted Class"] = names[np.concatenate(predicted)] if predicted else names[:0]
        stacked = np.concatenate([np.asarray(p, dtype=np.float32)[1:] for p in probabilities])
        for k, name in enumerate(label_names):
            columns[f"Probability of {name}"] = stacked[:, k]
    columns.update(_feature_columns(features, selection))
    return columns


def _object_count(frame: dict[str, dict[str, np.ndarray]]) -> int:
    return int(frame[DEFAULT]["Count"].shape[0]) - 1


def _user_labels(stored: np.ndarray | None, count: int) -> np.ndarray:
    """Class index (0 = none) of objects 1..count from ilastik's LabelInputs array."""
    labels = np.zeros(count, dtype=np.int64)
    if stored is not None:
        stored = np.asarray(stored).reshape(-1)[1:count + 1]
        labels[:stored.size] = stored.astype(np.int64)
    return labels


def _feature_columns(features: Sequence[dict[str, dict[str, np.ndarray]]],
                     selection: FeatureSelection) -> dict[str, np.ndarray]:
    if not features:
        return {}
    listed = {name for names in selection.values() for name in names}
    columns: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    for plugin, values in features[0].items():
        for name, first in values.items():
            title = display_name(plugin, name)
            if title in seen or not (plugin == DEFAULT or name in listed or title in listed):
                continue
            seen.add(title)
            stacked = np.concatenate([frame[plugin][name][1:] for frame in features])
            if stacked.dtype.kind == "f":   # ids (original_oid) stay integers
                stacked = stacked.astype(np.float32)
            if first.shape[1] == 1:
                columns[title] = stacked[:, 0]
            else:
                for i in range(first.shape[1]):
                    columns[f"{title}_{i}"] = stacked[:, i]
    return columns
