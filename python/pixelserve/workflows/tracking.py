"""Tracking: ilastik's Tracking with Learning and (Animal) Conservation Tracking projects, from
prediction maps or a binary segmentation, over a whole time-lapse movie.

What headless ilastik does (`structuredTrackingWorkflow.py` `prepare_lane_for_export`,
`conservationTrackingWorkflow.py`), and so what this workflow does: objects and features per
frame, the object count and division classifiers, the candidate graph over every frame and the
whole image with three candidate successors per object (whatever the project stores; the
option `max_nearest_neighbors` gives the GUI's value back), the solver (here an exact ILP or an
LP-based approximation, never ilastik's licence-bound solvers), merger resolution and lineages
(`tracking_lane.py`, on the engine in `pixelserve.tracking`).

Export sources as ilastik names them (`SelectionNames`, plus its plugin source): Tracking-Result
(lineage ids; 1 false detections), Merger-Result, Object-Identities (the object labels with
mergers split) and Plugin, which writes the files of `--export_plugin` instead of an image
(`trackingBaseDataExportApplet.py`): a headless run writes them through `LaneResult.write_files`.
The server and the Python API give the image sources and the table "tracks" (the CSV-Table
plugin's columns).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace

import h5py

from ..errors import ProjectError, UserError
from ..export.paths import format_path
from ..export.tables import Table
from ..objects import catalog
from ..objects.catalog import FeatureSelection
from ..project.ilp import ProjectFile
from ..project.object_classification import coord_maximum_exclusive
from ..project.tracking import HEADLESS_NEAREST_NEIGHBORS, read_tracking_project
from ..tracking.plugins import FOLDER_PLUGINS, PLUGINS, export_plugin
from ..tracking.solvers import ILP_MAX_TRACKLETS
from .base import InputRole, Workflow
from .lane import LaneRequest, LaneResult
from .options import WorkflowOption
from .registry import ILASTIK_WORKFLOWS, LoadSettings, WorkflowType, register
from .tracking_lane import LABEL_SOURCES, TrackingImage, TrackingLane, TrackingModel
from .volume import Volume

RAW_DATA = "Raw Data"
PLUGIN = "Plugin"
TABLE_NAME = "tracks"
MAMUT = "Fiji-MaMuT"

OPTIONS = (
    WorkflowOption("export_plugin", "with --export_source=Plugin: the format the tracks are written in, one of "
                   + ", ".join(PLUGINS) + " (ilastik's plugins; the files are named after "
                   "--output_filename_format, with {result_type} the plugin's name)", choices=tuple(PLUGINS)),
    WorkflowOption("big_data_viewer_xml_file", f"with --export_plugin={MAMUT}: the BigDataViewer XML file of the "
                   "raw data, which the MaMuT file refers to", kind="path"),
    WorkflowOption("max_nearest_neighbors", "candidate successors per object: ilastik's headless mode uses "
                   f"{HEADLESS_NEAREST_NEIGHBORS}, whatever the project stores; give the project's value to "
                   "track as ilastik's GUI did", kind="integer", default=HEADLESS_NEAREST_NEIGHBORS),
    WorkflowOption("tracking_solver", f"auto: the exact ILP up to {ILP_MAX_TRACKLETS} tracklets, above them the "
                   "LP-based approximation (energy within a certified gap); ilp or lp to choose",
                   choices=("auto", "ilp", "lp"), default="auto"),
)


class TrackingWorkflow(Workflow):
    title = "Tracking"
    options = OPTIONS
    table_names = (TABLE_NAME,)

    def __init__(self, model: TrackingModel):
        self.model = model
        self.project: ProjectFile = model.project.project
        self.workflow_name = self.project.workflow_name

    @property
    def input_roles(self) -> list[InputRole]:
        training = self.project.training_lane
        raw = training[RAW_DATA]
        dims = 3 if raw.depth > 1 else 2
        role = self.model.source_role
        source = training.get(role)
        channels = None if self.model.project.input_kind == "prediction" else 1
        return [InputRole(RAW_DATA, True, raw.axes, raw.size("c"), dims),
                InputRole(role, True, source.axes if source is not None else "", channels, dims)]

    @property
    def export_sources(self) -> list[str]:
        return list(LABEL_SOURCES) + [PLUGIN]

    @property
    def default_export_source(self) -> str:
        return LABEL_SOURCES[0]

    @property
    def export_defaults(self) -> Mapping[str, object]:
        return self.project.export_defaults

    def memory_bytes(self) -> int:
        return max(1 << 20, sum(ensemble.nbytes for ensemble in self.model.ensembles()))

    def make_lane(self, inputs: dict[str, Volume], request: LaneRequest, parallel_blocks: int) -> LaneResult:
        source, options = request.export_source, request.options
        plugin = options["export_plugin"]
        if source == PLUGIN and plugin is None:
            raise UserError("--export_source=Plugin writes the tracks with an export plugin, but none is named. "
                            f"Fix: add --export_plugin with one of {', '.join(PLUGINS)}.")
        if plugin is not None and source != PLUGIN:
            raise UserError(f"--export_plugin={plugin} is given with --export_source={source}, which writes an "
                            "image. Fix: add --export_source=Plugin, or drop --export_plugin.")
        bdv_file = options["big_data_viewer_xml_file"]
        if plugin == MAMUT and bdv_file is None:
            raise UserError(f"The {MAMUT} file refers to the raw data's BigDataViewer XML file, which is not "
                            "given. Fix: add --big_data_viewer_xml_file=PATH (Fiji's BigDataViewer > Export "
                            "Current Image as XML/HDF5 writes one).")
        if not request.image and not request.tables:
            raise UserError("--table_only writes no file for tracking projects: their table is the CSV-Table "
                            "plugin's. Fix: use --export_source=Plugin --export_plugin=CSV-Table.")
        if options["max_nearest_neighbors"] < 1:
            raise UserError(f"--max_nearest_neighbors={options['max_nearest_neighbors']} links no object. "
                            f"Fix: give 1 or more (ilastik's headless mode uses {HEADLESS_NEAREST_NEIGHBORS}).")
        raw, objects = inputs[RAW_DATA], inputs[self.model.source_role]
        if raw.time_points < 2:
            raise UserError(f"{raw.name} has {raw.time_points} time point(s) (axes '{raw.own_axes}', shape "
                            f"{raw.own_shape}); tracking needs a time series of at least two. Fix: pass a movie, "
                            "or --input_axes if its time axis was read as another axis.")
        t, z, y, x = raw.shape[:4]
        parameters = replace(self.model.project.parameters.for_headless((t, x, y, z)),
                             max_nearest_neighbors=int(options["max_nearest_neighbors"]))
        state = TrackingLane(self.model, raw, objects, parameters, solver=options["tracking_solver"],
                             selection=tracking_features(self.model.project.object_features, raw.channels,
                                                         3 if z > 1 else 2))
        image = TrackingImage(state, source) if request.image and source != PLUGIN else None

        def tables() -> list[Table]:
            return [Table(TABLE_NAME, state.track_table())] if request.tables else []

        def write_files(name_format: str, placeholders: Mapping[str, object]) -> list[str]:
            # the plugin gets the output name with {result_type} = its name; a name without a file
            # part becomes pluginExport.txt (trackingBaseDataExportApplet._export_with_plugin)
            base = format_path(name_format, {**placeholders, "result_type": plugin})
            if plugin not in FOLDER_PLUGINS and not os.path.basename(base):
                base = os.path.join(base, "pluginExport.txt")
            return [str(path) for path in export_plugin(plugin, base, state.plugin_export(bdv_file))]

        return LaneResult(image, state, tables, write_files if source == PLUGIN and request.image else None)


def tracking_features(selection: FeatureSelection, channels: int, dims: int) -> FeatureSelection:
    """The object features tracking computes of those the project lists (ilastik's fixed list,
    conservation/config.py `allFeaturesObjectCount`): what the plugins offer for data of this
    many channels and dimensions (a plugin computes all it knows and keeps the names asked
    for, vigra_objfeats_convex_hull.py `cleanup`, so the list's convex hull "Area" is never
    computed), local features only with a neighbourhood (opObjectExtraction.py: no "margin",
    no local features)."""
    offered = catalog.available_features(channels, dims)
    return {plugin: {name: margin for name, margin in features.items()
                     if name in offered[plugin] and (catalog.local_base(name) is None or any(margin))}
            for plugin, features in selection.items() if plugin in offered}


def load_tracking(file: h5py.File, project: ProjectFile, settings: LoadSettings) -> TrackingWorkflow:
    model = read_tracking_project(file, project)
    if len(project.role_names) < 2:
        raise ProjectError(f"{project.path.name} names only the role(s) {project.role_names}, but tracking needs "
                           "the raw data and a segmentation source. Fix: open it in ilastik and save it again.")
    return TrackingWorkflow(TrackingModel(model, project.role_names[1],
                                          coord_maximum_exclusive(project.ilastik_version)))


register(WorkflowType(TrackingWorkflow, ILASTIK_WORKFLOWS["Tracking"], load_tracking))
