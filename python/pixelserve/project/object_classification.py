"""Reading Object Classification projects (all four ilastik variants).

Layout (shared/notes/object-classification.md §1): `ThresholdTwoLevels` (prediction-map and
pixel-classification variants), `ObjectExtraction/Features/<plugin>/<feature>/margin`,
`ObjectClassification/{SelectedFeatures, LabelNames, LabelColors, PmapColors, LabelInputs,
ClassifierForests, CachedProbabilities, ExportSettings}`, `Blockwise Object Classification`,
and ilastik's caches (`ObjectExtraction/RegionFeatures`, `LabelImage_v2`, `RelabelData`), which
are read here for verification only. Nothing is unpickled: the `ExportSettings` pickle (the
object table's settings from ilastik's export dialog) is recognised by its bytes when it is
the `(None, None)` ilastik writes by default, and otherwise read as plain values by
`plain_pickle`, which constructs nothing else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..classifiers import VigraForest, read_vigra_forest
from ..errors import ProjectError
from ..io.axes import parse_axistags
from ..objects.catalog import FeatureSelection
from ..objects.segmentation import ThresholdSettings
from .h5values import as_text_list, read_array, read_scalar
from .ilp import ProjectFile, open_h5, read_export_group, read_project_file
from .label_sets import parse_block_slice
from .pixel_classification import StageModel, _colors, _refuse_pickled_classifier, read_stage
from .plain_pickle import NotPlain, plain_value

logger = logging.getLogger(__name__)

FROM_PREDICTION = "Object Classification (from prediction image)"
FROM_BINARY = "Object Classification (from binary image)"
FROM_LABELS = "Object Classification (from label image)"
FROM_PIXELS = "Object Classification (from pixel classification)"
# The role holding the segmentation's source in each variant (the pixel variant computes it).
SEGMENTATION_ROLE = {FROM_PREDICTION: "Prediction Maps", FROM_BINARY: "Segmentation Image",
                     FROM_LABELS: "Label Image", FROM_PIXELS: None}

# Projects made with `ilastik --new_project --workflow=<class>` store the class name
# (ilastik/shell/projectManager.py:155).
VARIANT_OF_CLASS = {"ObjectClassificationWorkflowPrediction": FROM_PREDICTION,
                    "ObjectClassificationWorkflowBinary": FROM_BINARY,
                    "ObjectClassificationWorkflowLabels": FROM_LABELS,
                    "ObjectClassificationWorkflowPixel": FROM_PIXELS}

EXPORT_GROUP = "Object Information Export"
# pickle.dumps((None, None), protocol=0) with its memo index: what every fixture stores.
_NO_TABLE_SETTINGS = re.compile(rb"\(NNtp\d+\n\.")
# ilastik adds 1 to Coord<Maximum> since commit d041f9605 (2019-10-25), first released in
# 1.3.3post2/1.3.3post3 and 1.4.0b3; 1.3.3post1 was tagged the same day before it.
_EXCLUSIVE_MAXIMUM_SINCE = (1, 3, 3, 2)


@dataclass(frozen=True)
class BlockwiseSettings:
    """Block and halo of the blockwise export sources, (z, y, x)."""

    block_shape_zyx: tuple[int, int, int] = (512, 512, 512)
    halo_zyx: tuple[int, int, int] = (64, 64, 64)


@dataclass(frozen=True)
class TableSettings:
    """The object table export as configured in ilastik's dialog
    (`ilastik/widgets/exportObjectInfoDialog.py` `settings`, and its feature list)."""

    file_path: str | None = None
    file_type: str | None = None           # "csv" or "h5"
    margin: int = 0                        # HDF5 only: context around each object's crop
    include_raw: bool = False              # HDF5 only: the whole raw image instead of crops
    features: tuple[str, ...] | None = None   # names or display names; None: all


@dataclass(frozen=True)
class ObjectClassificationProject:
    """Everything an Object Classification project stores (caches excepted)."""

    project: ProjectFile
    segmentation_role: str | None        # "Prediction Maps", "Segmentation Image", "Label Image"
    threshold: ThresholdSettings | None  # prediction-map and pixel variants only
    features: FeatureSelection           # what ObjectExtraction computes
    selected_features: FeatureSelection  # what the classifier reads (a subset)
    label_names: tuple[str, ...]
    label_colors: np.ndarray             # (K, 3)
    pmap_colors: np.ndarray              # (K, 3)
    label_inputs: tuple[dict[int, np.ndarray], ...]  # per lane: frame -> class per object id
    forests: tuple[VigraForest, ...]     # empty when the project was never trained
    known_labels: np.ndarray             # the class of each forest output column
    blockwise: BlockwiseSettings
    export_group: str | None
    export_settings: dict                # the stored export settings, as ilastik keys them
    table_settings: TableSettings | None  # configured in ilastik's GUI (None: never)
    table_settings_ignored: bool         # configured, but stored as more than plain values
    coord_maximum_exclusive: bool        # Coord<Maximum> is +1 (ilastik >= 1.3.3post2)
    pixel_stage: StageModel | None       # the pixel-classification variant's first stage

    @property
    def workflow_name(self) -> str:
        return self.project.workflow_name

    @property
    def variant(self) -> str:
        """The variant's workflowName (FROM_PREDICTION, ...), also for projects storing the class name."""
        return VARIANT_OF_CLASS.get(self.workflow_name, self.workflow_name)

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def has_classifier(self) -> bool:
        return bool(self.forests)


def read_object_classification(file: h5py.File, project: ProjectFile) -> ObjectClassificationProject:
    name = VARIANT_OF_CLASS.get(project.workflow_name, project.workflow_name)
    if name not in SEGMENTATION_ROLE:
        raise ProjectError(f"{project.path.name} is a '{name}' project, not an Object Classification "
                           "project. Fix: pass a project made with one of ilastik's Object "
                           "Classification workflows.")
    group = file.get("ObjectClassification")
    where = f"{project.path.name} (ObjectClassification)"
    features = read_feature_selection(file.get("ObjectExtraction/Features"))
    selected = read_feature_selection(group.get("SelectedFeatures") if group else None)
    _check_subset(selected, features, project.path.name)
    forests, known_labels = _read_forests(group, where)
    label_names = _label_names(group, where)
    table_settings, table_settings_ignored = _table_settings(group, project.path.name)
    if forests and not label_names:
        label_names = tuple(f"Label {k}" for k in range(1, int(known_labels.max()) + 1))
    return ObjectClassificationProject(
        project=project,
        segmentation_role=SEGMENTATION_ROLE[name],
        threshold=read_threshold_settings(file) if name in (FROM_PREDICTION, FROM_PIXELS) else None,
        features=features,
        selected_features=selected,
        label_names=label_names,
        label_colors=_colors(group, "LabelColors", len(label_names)) if group else np.zeros((0, 3)),
        pmap_colors=_colors(group, "PmapColors", len(label_names)) if group else np.zeros((0, 3)),
        label_inputs=_label_inputs(group, len(project.lanes)),
        forests=forests,
        known_labels=known_labels,
        blockwise=_blockwise(file.get("Blockwise Object Classification")),
        export_group=EXPORT_GROUP if EXPORT_GROUP in file else None,
        export_settings=read_export_group(file),
        table_settings=table_settings,
        table_settings_ignored=table_settings_ignored,
        coord_maximum_exclusive=coord_maximum_exclusive(project.ilastik_version),
        pixel_stage=read_stage(file, 1, project) if name == FROM_PIXELS else None,
    )


def read_object_project(path) -> ObjectClassificationProject:
    """An Object Classification project file, read (and closed)."""
    path = Path(path)
    with open_h5(path) as file:
        return read_object_classification(file, read_project_file(file, path))


def is_object_project(path) -> bool:
    """Whether the project file at `path` is an Object Classification project."""
    path = Path(path)
    with open_h5(path) as file:
        name = read_project_file(file, path).workflow_name
        return name in SEGMENTATION_ROLE or name in VARIANT_OF_CLASS


def coord_maximum_exclusive(ilastik_version: str) -> bool:
    """Whether a project from this ilastik version stores Coord<Maximum> + 1."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?(?:\.?post(\d+))?", ilastik_version or "")
    if not match:
        return True
    version = tuple(int(part or 0) for part in match.groups())
    return version >= _EXCLUSIVE_MAXIMUM_SINCE


def read_threshold_settings(file: h5py.File) -> ThresholdSettings:
    """ThresholdTwoLevels, with ilastik's legacy rules (thresholdTwoLevelsSerializer.py:57-74)."""
    group = file.get("ThresholdTwoLevels")
    defaults = ThresholdSettings()
    if group is None:
        return defaults
    method = int(read_scalar(group, "CurOperator", defaults.method))
    low = read_scalar(group, "LowThreshold", defaults.low_threshold)
    if method == 0 and "SingleThreshold" in group:
        low = read_scalar(group, "SingleThreshold")
    channel = int(read_scalar(group, "Channel", defaults.channel))
    sigmas = group.get("SmootherSigma")
    sigma_zyx = tuple(float(read_scalar(sigmas, axis, 1.0)) if sigmas is not None else 1.0
                      for axis in "zyx")
    return ThresholdSettings(
        method=method,
        channel=channel,
        core_channel=int(read_scalar(group, "CoreChannel", channel)),
        low_threshold=float(low),
        high_threshold=float(read_scalar(group, "HighThreshold", defaults.high_threshold)),
        min_size=int(read_scalar(group, "MinSize", defaults.min_size)),
        max_size=int(read_scalar(group, "MaxSize", defaults.max_size)),
        sigma_zyx=sigma_zyx,
    )


def read_feature_selection(group: h5py.Group | None) -> FeatureSelection:
    """plugin -> feature -> margin; GUI strings (displaytext, tooltip, ...) are skipped."""
    selection: FeatureSelection = {}
    if group is None:
        return selection
    for plugin, features in group.items():
        if not isinstance(features, h5py.Group):
            continue
        selection[plugin] = {}
        for feature, parameters in features.items():
            margin = ()
            if isinstance(parameters, h5py.Group) and "margin" in parameters:
                margin = tuple(int(m) for m in np.asarray(parameters["margin"][()]).reshape(-1))
            selection[plugin][feature] = margin
    return selection


def _check_subset(selected: FeatureSelection, features: FeatureSelection, project_name: str) -> None:
    for plugin, names in selected.items():
        missing = sorted(set(names) - set(features.get(plugin, {})))
        if missing:
            raise ProjectError(
                f"{project_name}: the classifier uses {plugin} feature(s) {missing} that the "
                "project does not compute. The project is inconsistent. Fix: open it in ilastik, "
                "select the features again, retrain and save.")


def _read_forests(group: h5py.Group | None, where: str) -> tuple[tuple[VigraForest, ...], np.ndarray]:
    forests_group = group.get("ClassifierForests") if group is not None else None
    _refuse_pickled_classifier(forests_group, where)
    if forests_group is None:
        return (), np.zeros(0, dtype=np.int64)
    forests = tuple(read_vigra_forest(forests_group[name])
                    for name in sorted(forests_group) if name.startswith("Forest"))
    known = read_array(forests_group, "known_labels")
    if known is None:
        known = forests[0].labels if forests else np.zeros(0)
    return forests, np.asarray(known, dtype=np.int64).reshape(-1)


def _label_names(group: h5py.Group | None, where: str) -> tuple[str, ...]:
    if group is None or "LabelNames" not in group:
        return ()
    dataset = group["LabelNames"]
    if dataset.dtype.kind not in "SOU":
        # ilastik 1.3 writes an empty list as one uninitialised float (e.g. [6.9e-310]).
        logger.info("%s: LabelNames holds %s values, not names; read as no classes",
                    where, dataset.dtype)
        return ()
    return tuple(as_text_list(dataset))


def _label_inputs(group: h5py.Group | None, n_lanes: int) -> tuple[dict[int, np.ndarray], ...]:
    """Per lane, frame -> float array indexed by object id (0 unlabelled, 1..K class)."""
    stored = group.get("LabelInputs") if group is not None else None
    lanes = []
    for lane in range(n_lanes):
        frames = stored.get(f"{lane:04d}") if stored is not None else None
        lanes.append({int(t): np.asarray(frames[t][()]).reshape(-1)
                      for t in frames} if frames is not None else {})
    return tuple(lanes)


def _blockwise(group: h5py.Group | None) -> BlockwiseSettings:
    defaults = BlockwiseSettings()
    if group is None:
        return defaults

    def zyx(name, default):
        sizes = group.get(name)
        if sizes is None:
            return default
        return tuple(int(read_scalar(sizes, axis, d)) for axis, d in zip("zyx", default))

    return BlockwiseSettings(zyx("BlockShape3dDict", defaults.block_shape_zyx),
                             zyx("HaloPadding3dDict", defaults.halo_zyx))


def _table_settings(group: h5py.Group | None, project_name: str) -> tuple[TableSettings | None, bool]:
    """(settings, ignored): the table export settings stored as a pickle of plain values."""
    if group is None or "ExportSettings" not in group:
        return None, False
    value = group["ExportSettings"][()]
    raw = value.tobytes() if isinstance(value, (np.void, np.ndarray)) else value
    raw = raw.encode() if isinstance(raw, str) else bytes(raw)
    if _NO_TABLE_SETTINGS.fullmatch(raw):
        return None, False
    try:
        settings, features = plain_value(raw)
        if settings is None:
            return None, False
        return TableSettings(
            file_path=str(settings["file path"]) if settings.get("file path") else None,
            file_type=settings.get("file type"),
            margin=int(settings.get("margin", 0)),
            include_raw=bool(settings.get("include raw", False)),
            features=tuple(str(name) for name in features) if features is not None else None,
        ), False
    except (NotPlain, TypeError, ValueError, AttributeError) as error:
        logger.info("%s: ignoring the table export settings configured in ilastik's GUI: they are not plain "
                    "values (%s), and pixelserve never unpickles project content; the default table is written",
                    project_name, error)
        return None, True


# ---- ilastik's caches, read to verify recomputed results ----------------------------------

def frame_key(t: int) -> str:
    """The RegionFeatures group name of frame t."""
    return f"[[{t}], [{t + 1}]]"


def read_region_features(file: h5py.File, lane: int, t: int) -> dict[str, dict[str, np.ndarray]] | None:
    """The cached features of one frame: plugin -> feature -> (n_objects + 1, k) array."""
    group = file.get(f"ObjectExtraction/RegionFeatures/{lane:04d}/{frame_key(t)}")
    if group is None:
        return None
    return {plugin: {name: np.asarray(data[()]) for name, data in features.items()}
            for plugin, features in group.items() if isinstance(features, h5py.Group)}


def read_cached_probabilities(file: h5py.File, lane: int, t: int) -> np.ndarray | None:
    return read_array(file, f"ObjectClassification/CachedProbabilities/{lane:04d}/{t}")


def read_stored_label_image(file: h5py.File, lane: int, t: int) -> np.ndarray | None:
    """The cached object label image (LabelImage_v2) of one frame as (z, y, x) uint32."""
    group = file.get(f"ObjectExtraction/LabelImage_v2/labelimage{lane:03d}")
    return _stored_frame(group, t, "txyzc") if group is not None else None


def read_relabel_data(file: h5py.File, lane: int, t: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The label-image variant's cached (relabelled image (z, y, x), (old, new) id map)."""
    group = file.get(f"ObjectExtraction/RelabelData/ImageLane{lane:03d}")
    if group is None:
        return None
    for block in group.values():
        if "array" in block and parse_block_slice(block["array"].attrs["blockSlice"])[0][0] == t:
            image = _stored_frame({"array": block["array"]}, t, "tzyxc")
            return image, np.asarray(block["dict"][()])
    return None


def _stored_frame(blocks, t: int, default_axes: str) -> np.ndarray | None:
    """Assemble frame t of ilastik's blocked caches (`blockSlice` attributes) as (z, y, x)."""
    pieces = []
    for block in blocks.values():
        axes = default_axes
        if "axistags" in block.attrs:
            parsed = parse_axistags(block.attrs["axistags"])
            axes = parsed[0] if parsed is not None else axes
        ranges = dict(zip(axes, parse_block_slice(block.attrs["blockSlice"])))
        if ranges["t"][0] <= t < ranges["t"][1]:
            pieces.append((ranges, axes, block))
    if not pieces:
        return None
    shape = tuple(max(r[axis][1] for r, _, _ in pieces) for axis in "zyx")
    frame = np.zeros(shape, dtype=np.uint32)
    for ranges, axes, block in pieces:
        data = np.asarray(block[()])
        data = data.transpose([axes.index(a) for a in "tzyxc"])[t - ranges["t"][0], ..., 0]
        frame[tuple(slice(*ranges[a]) for a in "zyx")] = data
    return frame
