"""Reading the workflow-independent parts of an ilastik project file (.ilp, HDF5).

Only plain datasets are read. Pickled content (classifier factories, scikit-learn
classifiers, bookmarks) is never unpickled, so a project from a stranger cannot run code.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import ProjectError, UserError
from ..io.axes import parse_axistags
from .h5values import as_text, as_text_list, read_array, read_text

PIXEL_CLASSIFICATION = "Pixel Classification"
AUTOCONTEXT = "AutocontextTwoStage"

# Stands for "some z extent > 1" when an old project stored axes but no shape.
UNKNOWN_DEPTH = 1 << 20

# Where each workflow keeps its export settings (the applet's name in the file).
EXPORT_GROUPS = ("Prediction Export", "Data Export", "Density Export", "Object Information Export",
                 "Tracking Result Export")


@dataclass
class DatasetInfo:
    """One role's dataset of one lane, as the project remembers it."""

    file_path: str
    nickname: str
    axes: str
    shape: tuple[int, ...] | None
    resolution: dict[str, tuple[float, str]] = field(default_factory=dict)
    # the OME-Zarr scale (its path) the lane was trained on; "" for ilastik's default (the scale
    # the address names, else the lowest resolution) and for data without scales
    working_scale: str = ""

    def size(self, axis: str) -> int | None:
        """Extent along `axis`: 1 when the axis is absent, None when the shape is unknown."""
        if axis not in self.axes:
            return 1
        if self.shape is None:
            return None
        return int(self.shape[self.axes.index(axis)])

    @property
    def depth(self) -> int:
        """z extent; projects too old to store their shape only say whether z exists."""
        size = self.size("z")
        return UNKNOWN_DEPTH if size is None else size


@dataclass
class ProjectFile:
    """The parts of a project every workflow shares."""

    path: Path
    workflow_name: str
    ilastik_version: str
    role_names: list[str]
    lanes: list[dict[str, DatasetInfo]]
    export_defaults: dict[str, object]

    @property
    def training_lane(self) -> dict[str, DatasetInfo]:
        """ilastik takes axes and channel count from the last lane that has raw data."""
        lanes = [lane for lane in self.lanes if self.role_names and self.role_names[0] in lane]
        if not lanes:
            raise ProjectError(
                f"{self.path.name} holds no input data, so the channel count and axes its classifier "
                "expects are unknown. Fix: open it in ilastik, add the training image under "
                "Input Data, and save it again."
            )
        return lanes[-1]

    @property
    def training_raw(self) -> DatasetInfo:
        return self.training_lane[self.role_names[0]]

    def version_tuple(self) -> tuple[int, int, int]:
        match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", self.ilastik_version)
        if not match:
            return (0, 0, 0)
        return tuple(int(part or 0) for part in match.groups())  # type: ignore[return-value]


def open_h5(path: str | os.PathLike) -> h5py.File:
    path = Path(path)
    if not path.exists():
        folder = "exists" if path.parent.exists() else "does not exist either"
        raise UserError(f"Project file {path} not found (its folder {folder}). Fix: check --project.")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise UserError(
            f"{path} is not an ilastik project (.ilp files are HDF5 files): {error}. "
            "Fix: pass the .ilp file ilastik saved."
        ) from None


def read_project_file(file: h5py.File, path: Path) -> ProjectFile:
    if "workflowName" not in file:
        raise ProjectError(
            f"{path.name} has no workflowName: it is an HDF5 file but not an ilastik project. "
            "Fix: pass the .ilp file ilastik saved."
        )
    return ProjectFile(
        path=path,
        workflow_name=read_text(file, "workflowName"),
        ilastik_version=read_text(file, "ilastikVersion", "0.0.0"),
        role_names=_role_names(file),
        lanes=_lanes(file),
        export_defaults=_export_defaults(file),
    )


def _role_names(file: h5py.File) -> list[str]:
    group = file.get("Input Data")
    if group is None or "Role Names" not in group:
        return ["Raw Data"]
    return as_text_list(group["Role Names"])


def _lanes(file: h5py.File) -> list[dict[str, DatasetInfo]]:
    infos = file.get("Input Data/infos")
    if infos is None:
        return []
    lanes = []
    for lane_name in sorted(infos):
        lane = {}
        for role, group in infos[lane_name].items():
            info = _dataset_info(group)
            if info is not None:
                lane[role] = info
        lanes.append(lane)
    return lanes


def _dataset_info(group: h5py.Group) -> DatasetInfo | None:
    if not isinstance(group, h5py.Group) or len(group) == 0:
        return None
    resolution: dict[str, tuple[float, str]] = {}
    parsed = parse_axistags(read_text(group, "axistags")) if "axistags" in group else None
    if parsed is not None:
        axes, resolution = parsed
    elif "axisorder" in group:
        axes = read_text(group, "axisorder")
    else:
        return None
    shape = read_array(group, "shape")
    return DatasetInfo(
        file_path=read_text(group, "filePath", ""),
        nickname=read_text(group, "nickname", ""),
        axes=axes,
        shape=tuple(int(s) for s in shape) if shape is not None else None,
        resolution=resolution,
        working_scale=_working_scale(group),
    )


def _working_scale(group: h5py.Group) -> str:
    """DatasetInfo.working_scale (ilastik 1.4.1, opDataSelection.py from_h5_group): a string;
    ilastik 1.4.1b13 stored an integer, 0 meaning the default, others only for Neuroglancer
    Precomputed data (which pixelserve does not read), so every integer counts as the default."""
    if "working_scale" not in group:
        return ""
    value = group["working_scale"][()]
    if _is_text(value):
        return as_text(value)
    return ""


def _is_text(value) -> bool:
    """Whether a stored value is a string (ilastik writes strings as bytes, numpy bytes or
    object arrays) rather than a number or an array of numbers."""
    return isinstance(value, (bytes, str, np.bytes_)) or getattr(value, "dtype", None) == np.object_


#: The export settings ilastik stores in an export applet's group (dataExportSerializer.py).
EXPORT_KEYS = ("OutputFilenameFormat", "OutputFormat", "OutputInternalPath", "OutputAxisOrder",
               "ExportDtype", "RegionStart", "RegionStop", "InputMin", "InputMax", "ExportMin",
               "ExportMax")


def read_export_group(file: h5py.File) -> dict[str, object]:
    """The stored export settings as ilastik keeps them (texts, and arrays for the rest),
    from the first export applet group the project has."""
    group = next((file[name] for name in EXPORT_GROUPS if name in file), None)
    if group is None:
        return {}
    settings: dict[str, object] = {}
    for key in EXPORT_KEYS:
        if key not in group:
            continue
        value = group[key][()]
        if _is_text(value):
            settings[key] = as_text(value)
        else:
            settings[key] = np.asarray(value)
    return settings


def _export_defaults(file: h5py.File) -> dict[str, object]:
    """The stored export settings, which ilastik's headless mode uses as defaults, keyed like
    the headless flags (and ExportSettings' fields)."""
    stored = read_export_group(file)
    defaults: dict[str, object] = {}
    for flag, key in (("output_filename_format", "OutputFilenameFormat"), ("output_internal_path", "OutputInternalPath"),
                      ("output_format", "OutputFormat"), ("output_axis_order", "OutputAxisOrder"),
                      ("export_dtype", "ExportDtype")):
        if isinstance(stored.get(key), str) and stored[key]:
            defaults[flag] = stored[key]
    if "RegionStart" in stored and "RegionStop" in stored:
        defaults["cutout_subregion"] = tuple(tuple(None if int(v) == -1 else int(v) for v in
                                                   np.asarray(stored[key]).reshape(-1)) for key in ("RegionStart", "RegionStop"))
    for flag, (low, high) in (("pipeline_result_drange", ("InputMin", "InputMax")),
                              ("export_drange", ("ExportMin", "ExportMax"))):
        if low in stored and high in stored:
            defaults[flag] = (_scalar(stored[low]), _scalar(stored[high]))
    return defaults


def _scalar(value) -> float:
    return np.asarray(value).reshape(-1)[0].item()
