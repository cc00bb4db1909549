"""Reading Cell Density Counting projects, and storing pixelserve's trained regressors in them.

Layout (ilastik `applets/counting/countingSerializer.py`, checked against
CellDensityCounting2d3c.ilp from ilastik 1.3.0):

- `FeatureSelections`: as in pixel classification.
- `Counting/LabelSets/labels<lane>/block<NNNN>`: uint8, 1 = dot ("Foreground"), 2 =
  background, attribute `blockSlice`, in ilastik's *internal* axis order of the lane: the
  workflow forces the first of xyc, xzc, yxc, yzc, zxc, zyc that holds every non-singleton
  axis of the image (`workflows/counting/countingWorkflow.py` builds the list from
  `itertools.permutations("xyz", 2)`; `opDataSelection.py` picks the first shortest match).
  A yxc image therefore stores xyc labels. Time series and 3D volumes have no such order:
  ilastik refuses them.
- `Counting/Sigma`: the dot smoothing sigma, stored only when the user changed it; else 2.5
  (`countingsvr.py` `SVR.__init__`; the 2.0 slot default is overwritten on init).
- `Counting/Rois/rois<NNNN>/BoxConstraintRois` and `Counting/Values/values<NNNN>/
  BoxConstraintValues`: box constraints, lists of 5-d [start, stop] pairs and counts; an empty
  list is stored as one garbage number with attribute `isEmpty` True.
- `Counting/CountingWrappers`: the trained regressors as pickles. Never read here.
- method, tree count and depth are not stored (`countingSerializer.py` has no slot for them).

- `Density Export/CsvFilepath`: where ilastik's export writes the counts, if the user set it
  (`countingDataExportApplet.py` serializes the CsvFilepath slot).

pixelserve stores its own trained regressors as plain arrays in `Counting/PixelserveRegressors`
(`regressor_<r>/tree_<i>`, layout in `classifiers/regression_trees.py`), with the
fingerprint of the training input they came from (labels, features, sigma, and each lane's
stored file path, shape and dataset id), so that a project whose labels or training images
changed afterwards in ilastik is retrained instead of predicted with stale regressors. (A
training image overwritten on disk under the same name is not noticed: the fingerprint does
not read pixels, since stored regressors must work where the training images are absent.)
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..classifiers.regression_trees import (
    RegressionTree,
    read_regression_forest,
    write_regression_forest,
)
from ..errors import ProjectError, UserError
from ..features import FeatureSpec
from .h5values import as_text_list, read_scalar, read_text
from .ilp import DatasetInfo, ProjectFile, open_h5, read_project_file
from .label_sets import SparseLabels, read_label_sets
from .pixel_classification import read_feature_specs, structure_tensor_order_for

logger = logging.getLogger(__name__)

COUNTING = "Cell Density Counting"
COUNTING_GROUP = "Counting"
REGRESSORS_GROUP = "PixelserveRegressors"
REGRESSORS_FORMAT = 1
DOT = 1
BACKGROUND = 2
DEFAULT_SIGMA = 2.5
# ilastik's forced axis orders for counting, in its order of preference.
INTERNAL_ORDERS = ("xyc", "xzc", "yxc", "yzc", "zxc", "zyc")


@dataclass(frozen=True)
class BoxConstraint:
    """'This box holds `count` objects': lane, canonical (y, x) ranges, count."""

    lane: int
    y: tuple[int, int]
    x: tuple[int, int]
    count: float


@dataclass
class CountingRegressors:
    """Trained regressors (each a list of trees) and the training input's fingerprint."""

    regressors: list[list[RegressionTree]]
    n_features: int
    fingerprint: str


@dataclass
class CountingModel:
    """What a Cell Density Counting project says about training and prediction."""

    project: ProjectFile
    feature_specs: list[FeatureSpec]
    structure_tensor_order: str
    labels: list[SparseLabels]         # per lane, canonical (t, z, y, x); 1 dot, 2 background
    internal_axes: list[str]           # per lane, ilastik's axis order of its labels
    sigma: float
    box_constraints: list[BoxConstraint]
    label_names: list[str]
    stored_regressors: CountingRegressors | None   # None: absent or trained on other labels
    lane_ids: list[str]                # per lane, what identifies its stored training image
    csv_file: str | None = None        # the project's CSV file for the counts, if it stores one

    @property
    def fingerprint(self) -> str:
        """The fingerprint regressors trained on this project's labels and images carry."""
        return training_fingerprint(self.labels, self.feature_specs, self.structure_tensor_order,
                                    self.sigma, self.lane_ids)


def internal_axis_order(info: DatasetInfo, where: str) -> str:
    """ilastik's internal axis order for a counting lane (see the module docstring)."""
    spatial = [a for a in info.axes if a in "zyx"]
    if info.shape is None:
        needed = set(spatial)
    else:
        needed = {a for a in info.axes if a != "c" and info.size(a) > 1}
    if "t" in needed:
        raise ProjectError(f"{where}: the image is a time series; ilastik's Cell Density Counting "
                           "takes single 2D images only. Fix: split the frames into files.")
    for order in INTERNAL_ORDERS:
        if needed <= set(order):
            return order
    raise ProjectError(f"{where}: the image has axes {info.axes} with more than two spatial axes "
                       "longer than 1; Cell Density Counting takes 2D images only. Fix: count "
                       "each slice as its own image.")


def read_counting(file: h5py.File, project: ProjectFile,
                  structure_tensor_order: str | None = None) -> CountingModel:
    """The counting model of an open project (ProjectError for anything unusable)."""
    name = project.path.name
    if project.workflow_name != COUNTING or COUNTING_GROUP not in file:
        raise ProjectError(f"{name} is a '{project.workflow_name}' project, not a Cell Density "
                           "Counting project. Fix: pass a project made with ilastik's Cell Density "
                           "Counting workflow.")
    if "FeatureSelections" not in file:
        raise ProjectError(f"{name} has no feature selection. Fix: select features in ilastik's "
                           "Feature Selection applet and save the project.")
    specs = read_feature_specs(file["FeatureSelections"], name)
    group = file[COUNTING_GROUP]
    raw_role = project.role_names[0]
    internal = [internal_axis_order(lane[raw_role], f"{name} lane {index}")
                if raw_role in lane else "xyc" for index, lane in enumerate(project.lanes)]
    labels = read_label_sets(group, internal, f"{name} (Counting)")
    for index, lane in enumerate(labels):
        unknown = np.setdiff1d(lane.classes, [DOT, BACKGROUND])
        if unknown.size:
            raise ProjectError(f"{name} lane {index}: counting labels are 1 (dot) and 2 "
                               f"(background), the project also holds {unknown.tolist()}. Fix: "
                               "remove those labels in ilastik and save the project.")
    model = CountingModel(
        project=project,
        feature_specs=specs,
        structure_tensor_order=structure_tensor_order or structure_tensor_order_for(project),
        labels=labels,
        internal_axes=internal,
        sigma=_read_sigma(group, name),
        box_constraints=_read_box_constraints(group, internal, project.ilastik_version, name),
        label_names=as_text_list(group["LabelNames"]) if "LabelNames" in group
        else ["Foreground", "Background"],
        stored_regressors=None,
        lane_ids=_lane_ids(file, raw_role),
        csv_file=read_text(file, "Density Export/CsvFilepath") or None,
    )
    stored = group.get(REGRESSORS_GROUP)
    if isinstance(stored, h5py.Group):
        regressors = _read_regressors(stored, name)
        if regressors.fingerprint == model.fingerprint:
            model.stored_regressors = regressors
        else:
            logger.warning("%s: the regressors pixelserve stored were trained on other labels, "
                           "images, sigma or features than the project holds now; they are "
                           "retrained.", name)
    return model


def _lane_ids(file: h5py.File, role: str) -> list[str]:
    """Per lane, the stored path, shape and dataset id of its raw data ('' without one)."""
    infos = file.get("Input Data/infos")
    if not isinstance(infos, h5py.Group):
        return []
    found = []
    for lane in sorted(infos):
        info = infos[lane].get(role)
        if not isinstance(info, h5py.Group) or not len(info):
            found.append("")
            continue
        shape = info.get("shape")
        found.append("|".join((read_text(info, "filePath", ""), read_text(info, "datasetId", ""),
                               repr(shape[()].tolist()) if isinstance(shape, h5py.Dataset) else "")))
    return found


def is_counting_project(path) -> bool:
    """Whether the project file at `path` is a Cell Density Counting project."""
    path = Path(path)
    with open_h5(path) as file:
        return read_project_file(file, path).workflow_name in (COUNTING, "CountingWorkflow")


def read_counting_project(path, structure_tensor_order: str | None = None) -> CountingModel:
    """Open, read and close a counting project file (the file is not kept open)."""
    path = Path(path)
    with open_h5(path) as file:
        return read_counting(file, read_project_file(file, path), structure_tensor_order)


def _read_sigma(group: h5py.Group, name: str) -> float:
    value = read_scalar(group, "Sigma", DEFAULT_SIGMA)
    try:
        sigma = float(value)
    except (TypeError, ValueError):
        sigma = float("nan")
    if not np.isfinite(sigma) or sigma <= 0:
        raise ProjectError(f"{name}: the counting Sigma {value!r} is not a positive number. Fix: "
                           "set Sigma in ilastik's counting applet and save the project.")
    return sigma


def _boxes_in_canonical_order(version: str) -> bool:
    """Box corners are 5-d: (t, internal axis 0, internal axis 1, ., .) before ilastik 1.3.3post3
    (`countingGuiBoxesInterface.py` getStart until 2019-08), (t, z, y, x, c) since."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)(?:\D*post(\d+))?", version)
    if not match:
        return True
    major, minor, patch, post = (int(g or 0) for g in match.groups())
    return (major, minor, patch, post) >= (1, 3, 3, 3)


def _read_box_constraints(group: h5py.Group, internal: list[str], version: str,
                          name: str) -> list[BoxConstraint]:
    """Box constraints of every lane; malformed entries are skipped with a warning (ilastik's
    random-forest training ignores them anyway)."""
    rois_group, values_group = group.get("Rois"), group.get("Values")
    if not isinstance(rois_group, h5py.Group) or not isinstance(values_group, h5py.Group):
        return []
    canonical = _boxes_in_canonical_order(version)
    constraints = []
    for lane, (rois_name, values_name) in enumerate(zip(sorted(rois_group), sorted(values_group))):
        rois = _listed(rois_group[rois_name], "BoxConstraintRois")
        values = _listed(values_group[values_name], "BoxConstraintValues")
        if rois is None or values is None:
            continue
        axes = internal[lane] if lane < len(internal) else "xyc"
        try:
            corners = np.asarray(rois, dtype=np.float64).reshape(-1, 2, 5)
            counts = np.asarray(values, dtype=np.float64).reshape(-1)
            if corners.shape[0] != counts.size:
                raise ValueError("one count per box needed")
        except ValueError:
            logger.warning("%s: box constraints of lane %d are malformed; ignored.", name, lane)
            continue
        for (start, stop), count in zip(corners.astype(np.int64), counts):
            if canonical:
                ranges = {"y": (start[2], stop[2]), "x": (start[3], stop[3])}
            else:
                ranges = {axes[0]: (start[1], stop[1]), axes[1]: (start[2], stop[2])}
            if set(ranges) != {"y", "x"} or any(b <= a or a < 0 for a, b in ranges.values()):
                logger.warning("%s: box constraint %s..%s of lane %d is not a y-x box; ignored.",
                               name, start.tolist(), stop.tolist(), lane)
                continue
            constraints.append(BoxConstraint(lane, tuple(map(int, ranges["y"])),
                                             tuple(map(int, ranges["x"])), float(count)))
    return constraints


def _listed(group, name: str):
    """A list ilastik stored with SerialListSlot, or None when empty or absent."""
    if not isinstance(group, h5py.Group) or not isinstance(group.get(name), h5py.Dataset):
        return None
    dataset = group[name]
    if bool(dataset.attrs.get("isEmpty", False)) or dataset.dtype.kind not in "iuf":
        return None
    return dataset[()]


# -- stored regressors -------------------------------------------------------------------

def training_fingerprint(labels: list[SparseLabels], specs: list[FeatureSpec],
                         structure_tensor_order: str, sigma: float,
                         images: list[str] = ()) -> str:
    """A digest of everything training reads: labels, features, sigma, and what identifies
    the training images (`images`, e.g. CountingModel.lane_ids)."""
    digest = hashlib.sha256()
    digest.update(repr((float(sigma), structure_tensor_order,
                        [(s.feature_id, s.scale, s.in_2d) for s in specs],
                        list(images))).encode())
    for lane in labels:
        digest.update(np.int64(len(lane)).tobytes())
        digest.update(np.ascontiguousarray(lane.coords, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(lane.values, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def _read_regressors(group: h5py.Group, name: str) -> CountingRegressors:
    fix = (f"Fix: store them again with pixelserve, or delete the group "
           f"{COUNTING_GROUP}/{REGRESSORS_GROUP} from the project.")
    version = group.attrs.get("format_version")
    if version is None or int(np.asarray(version).reshape(-1)[0]) != REGRESSORS_FORMAT:
        raise ProjectError(f"{name}: {group.name} has format version {version!r}; this pixelserve "
                           f"reads version {REGRESSORS_FORMAT}. {fix}")
    names = sorted(k for k in group if k.startswith("regressor_"))
    if not names:
        raise ProjectError(f"{name}: {group.name} holds no regressors. {fix}")
    forests = [read_regression_forest(group[k]) for k in names]
    counts = {n_features for _, n_features in forests}
    if len(counts) != 1:
        raise ProjectError(f"{name}: the stored regressors take different feature counts. {fix}")
    fingerprint = group.attrs.get("training_fingerprint", "")
    return CountingRegressors(regressors=[trees for trees, _ in forests], n_features=counts.pop(),
                              fingerprint=fingerprint.decode() if isinstance(fingerprint, bytes)
                              else str(fingerprint))


def write_counting_regressors(source, output, regressors: CountingRegressors) -> Path:
    """Copy the project `source` to `output` (unchanged, byte for byte) and add the trained
    regressors as `Counting/PixelserveRegressors`, replacing any stored before."""
    source, output = Path(source), Path(output)
    if output.resolve() != source.resolve():
        if output.exists() and output.is_dir():
            raise UserError(f"{output} is a folder. Fix: give the path of the .ilp file to write.")
        shutil.copyfile(source, output)
    with h5py.File(output, "a") as file:
        counting = file.get(COUNTING_GROUP)
        if not isinstance(counting, h5py.Group):
            raise ProjectError(f"{source.name} has no {COUNTING_GROUP} group: it is not a Cell "
                               "Density Counting project.")
        if REGRESSORS_GROUP in counting:
            del counting[REGRESSORS_GROUP]
        group = counting.create_group(REGRESSORS_GROUP)
        group.attrs["format_version"] = np.int64(REGRESSORS_FORMAT)
        group.attrs["training_fingerprint"] = regressors.fingerprint
        width = len(str(max(len(regressors.regressors) - 1, 0)))
        for index, trees in enumerate(regressors.regressors):
            write_regression_forest(group.create_group(f"regressor_{index:0{width}d}"), trees,
                                    regressors.n_features)
    return output
