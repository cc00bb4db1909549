"""Object Classification, all four ilastik variants: objects from prediction maps
(thresholded), a binary segmentation, a label image, or the project's own pixel classifier
(the deprecated "Pixel Classification + Object Classification"); then ilastik's object
features and the project's object classifier, per time frame.

Export sources as ilastik names them (`objectClassificationWorkflow.py:90-95, 314-326`,
PC+OC `:603-605, 669-670`): Object Predictions, Object Probabilities, Blockwise Object
Predictions, Blockwise Object Probabilities, Object Identities, and for PC+OC Pixel
Probabilities and Simple Segmentation. The object table (ilastik's `--table_filename`) is
written whenever the flag is given, with the columns of `objects.table`; ilastik itself
refuses it unless the table export was configured in its GUI.

The modules: `object_pipeline` (segmentation, features, prediction of a box),
`object_lane` (the whole-frame sources and the table), `object_blockwise` (the blockwise
sources).
"""

from __future__ import annotations

from collections.abc import Mapping

import h5py

from ..errors import ProjectError, UserError
from ..features import minimum_size
from ..objects.catalog import FeatureSelection, display_name
from ..objects.segmentation import HYSTERESIS, ThresholdSettings
from ..project.ilp import ProjectFile
from ..project.object_classification import FROM_PIXELS, ObjectClassificationProject, read_object_classification
from ..project.pixel_classification import structure_tensor_order_for
from .base import InputRole, Workflow
from .lane import LaneRequest, LaneResult
from .object_blockwise import BLOCKWISE_PREDICTIONS, BLOCKWISE_PROBABILITIES, BlockwiseObjects
from .object_lane import OBJECT_IDENTITIES, OBJECT_PREDICTIONS, OBJECT_PROBABILITIES, TABLE_NAME, LaneObjects, ObjectImage, object_tables, table_file
from .object_pipeline import PREDICTION_MAPS, LaneSegmenter, ObjectPipeline
from .options import WorkflowOption
from .pixel_classification import ExportSource, PixelResultSource, SourceKind
from .registry import ILASTIK_WORKFLOWS, LoadSettings, WorkflowType, register
from .stages import Stage, StageChain
from .volume import Volume

RAW_DATA = "Raw Data"
PIXEL_PROBABILITIES = "Pixel Probabilities"
SIMPLE_SEGMENTATION = "Simple Segmentation"
OBJECT_SOURCES = (OBJECT_PREDICTIONS, OBJECT_PROBABILITIES, BLOCKWISE_PREDICTIONS, BLOCKWISE_PROBABILITIES,
                  OBJECT_IDENTITIES)
PIXEL_SOURCES = {PIXEL_PROBABILITIES: SourceKind.PROBABILITIES, SIMPLE_SEGMENTATION: SourceKind.SIMPLE_SEGMENTATION}
LANE_WIDE_SOURCES = (OBJECT_PREDICTIONS, OBJECT_PROBABILITIES, OBJECT_IDENTITIES)
NEEDS_CLASSIFIER = (OBJECT_PREDICTIONS, OBJECT_PROBABILITIES, BLOCKWISE_PREDICTIONS, BLOCKWISE_PROBABILITIES)

TABLE_OPTION = WorkflowOption(
    "table_filename",
    "also write the object table (one row per object: ids, frame, class, probabilities, features) to this "
    "path; a .csv name gets ilastik's '_table' suffix (cells.csv -> cells_table.csv), .h5 writes an HDF5 "
    "table; placeholders as in --output_filename_format, e.g. {dataset_dir}/{nickname}.csv",
    kind="path")


class ObjectClassificationWorkflow(Workflow):
    title = "Object Classification"
    options = (TABLE_OPTION,)
    table_names = (TABLE_NAME,)

    def __init__(self, model: ObjectClassificationProject, pixel_stage: Stage | None):
        self.model = model
        self.project: ProjectFile = model.project
        self.workflow_name = model.workflow_name
        self.pipeline = ObjectPipeline(model, pixel_stage)
        sources = list(OBJECT_SOURCES)
        if pixel_stage is not None:
            sources += list(PIXEL_SOURCES)
        self._sources = sources

    # -- what the workflow offers ------------------------------------------------------------
    @property
    def input_roles(self) -> list[InputRole]:
        training = self.project.training_lane
        raw = training[RAW_DATA]
        dims = 3 if raw.depth > 1 else 2
        roles = [InputRole(RAW_DATA, True, raw.axes, raw.size("c"), dims)]
        role = self.model.segmentation_role
        if role is not None:
            info = training.get(role)
            channels = None if role == PREDICTION_MAPS else 1
            roles.append(InputRole(role, True, info.axes if info is not None else "", channels, dims))
        return roles

    @property
    def export_sources(self) -> list[str]:
        return list(self._sources)

    @property
    def default_export_source(self) -> str:
        # ilastik's first source; a project without a classifier has only the object ids
        return OBJECT_PREDICTIONS if self.model.has_classifier else OBJECT_IDENTITIES

    @property
    def label_names(self) -> list[str]:
        return list(self.model.label_names)

    @property
    def label_colors(self) -> list[tuple[int, int, int]]:
        return [tuple(int(v) for v in color) for color in self.model.label_colors]

    @property
    def export_defaults(self) -> Mapping[str, object]:
        return self.project.export_defaults

    @property
    def min_image_size(self) -> int:
        stage = self.pipeline.pixel_stage
        return minimum_size(stage.specs) if stage is not None else 1

    def memory_bytes(self) -> int:
        forests = sum(forest.nbytes for forest in self.model.forests)
        ensemble = self.pipeline.ensemble.nbytes if self.pipeline.ensemble is not None else 0
        stage = self.pipeline.pixel_stage
        if stage is not None:
            forests += sum(forest.nbytes for forest in stage.model.forests) + stage.ensemble.nbytes
        return max(1 << 20, forests + ensemble)

    # -- computing ---------------------------------------------------------------------------
    def check_inputs(self, inputs: dict[str, Volume]) -> None:
        raw = inputs.get(RAW_DATA)
        role = self.model.segmentation_role
        source = inputs.get(role) if role is not None else None
        if raw is not None and source is not None and source.time_points != raw.time_points:
            raise _time_points_differ(raw, source, role)
        super().check_inputs(inputs)
        if source is not None:
            check_object_inputs(raw, source, role, self.model.threshold)

    def make_lane(self, inputs: dict[str, Volume], request: LaneRequest, parallel_blocks: int) -> LaneResult:
        source = request.export_source
        classifier = self.model.has_classifier
        if source in NEEDS_CLASSIFIER and request.image and not classifier:
            raise UserError(
                f"{self.project.path.name} has no trained object classifier, so it cannot export '{source}'. "
                f"Fix: label objects in ilastik's Object Classification applet and save, or train one with "
                f"'pixelserve train --workflow object --project {self.project.path.name} --labels ...'; "
                f"without one, export '{OBJECT_IDENTITIES}' or the table (--table_filename).")
        raw = inputs[RAW_DATA]
        role = self.model.segmentation_role
        segmenter = LaneSegmenter(self.pipeline, raw, inputs.get(role) if role is not None else None)
        stored = self.model.table_settings
        # ilastik writes the table wherever its GUI set it up, unless --table_filename says otherwise
        table_template = request.options.get(TABLE_OPTION.name) or (stored.file_path if stored is not None else None)
        wants_table = request.tables or table_template is not None
        lane_wide = source in LANE_WIDE_SOURCES and request.image
        state = None
        if lane_wide or wants_table:
            needs_features = wants_table or (classifier and source != OBJECT_IDENTITIES)
            selection = self.model.features if wants_table else self.model.selected_features
            state = LaneObjects(segmenter, feature_selection=selection if needs_features else None,
                                classify=classifier and (wants_table or source != OBJECT_IDENTITIES),
                                keep_features=wants_table)
        image = None
        if lane_wide:
            image = ObjectImage(state, source)
        elif request.image and source in PIXEL_SOURCES:
            chain = StageChain([self.pipeline.pixel_stage], raw, None, raw.shape[1])
            image = PixelResultSource(chain, ExportSource(PIXEL_SOURCES[source], 1), parallel_blocks)
        elif request.image:
            image = BlockwiseObjects(segmenter, source, self.model.blockwise)

        def tables():
            if not wants_table:
                return []
            return object_tables(state, self.table_selection(), table_template,
                                 margin=stored.margin if stored is not None else 0,
                                 include_raw=stored is not None and stored.include_raw)

        return LaneResult(image, state, tables,
                          table_files={table_file(table_template): TABLE_OPTION.name} if table_template else {})

    def table_selection(self) -> FeatureSelection:
        """The features the table lists: those chosen in ilastik's table export dialog when
        the project stores them, else every computed feature (default features always)."""
        stored = self.model.table_settings
        if stored is None or stored.features is None:
            return self.model.features
        chosen = set(stored.features)
        return {plugin: {name: margin for name, margin in features.items()
                         if name in chosen or display_name(plugin, name) in chosen}
                for plugin, features in self.model.features.items()}


def check_object_inputs(raw: Volume, source: Volume, role: str, settings: ThresholdSettings | None) -> None:
    """Refuse a segmentation source that cannot give objects of the raw data."""
    if source.time_points != raw.time_points:
        raise _time_points_differ(raw, source, role)
    if source.shape[1:4] != raw.shape[1:4]:
        raise UserError(f"{role} {source.name} has shape {source.own_shape} (axes '{source.own_axes}') but the raw "
                        f"data has {raw.own_shape} (axes '{raw.own_axes}'). Fix: pass a {role.lower()} of the raw "
                        "data's size.")
    if role == PREDICTION_MAPS:
        needed = max(settings.channel, settings.core_channel if settings.method == HYSTERESIS else 0) + 1
        if source.channels < needed:
            raise UserError(f"{source.name} has {source.channels} channel(s) but the project thresholds channel "
                            f"{needed - 1}. Fix: pass the prediction maps the project was made with "
                            f"(at least {needed} channels).")
    elif source.dtype.kind not in "biu":
        raise UserError(f"{source.name} holds {source.dtype} values, but a {role.lower()} holds integer object "
                        f"ids or 0/1. Fix: pass it as an integer image (e.g. uint8 or uint32), not probabilities.")


def _time_points_differ(raw: Volume, source: Volume, role: str) -> UserError:
    return UserError(f"{source.name} has {source.time_points} time point(s) but the raw data {raw.name} has "
                     f"{raw.time_points}. Fix: pass the {role.lower()} of the same time series.")


def load_object_classification(file: h5py.File, project: ProjectFile, settings: LoadSettings) -> ObjectClassificationWorkflow:
    model = read_object_classification(file, project)
    pixel_stage = None
    if model.variant == FROM_PIXELS:
        order = settings.structure_tensor_order or structure_tensor_order_for(project)
        raw = project.training_raw
        pixel_stage = Stage(model.pixel_stage, raw.size("c") or 1, raw.depth, order, project.path.name)
        needed = max(model.threshold.channel, model.threshold.core_channel) + 1
        if pixel_stage.n_classes < needed:
            raise ProjectError(f"{project.path.name} thresholds pixel probability channel {needed - 1}, but its "
                               f"pixel classifier has {pixel_stage.n_classes} classes. The project is "
                               "inconsistent. Fix: choose the channel again in ilastik's Thresholding applet and save.")
    return ObjectClassificationWorkflow(model, pixel_stage)


register(WorkflowType(ObjectClassificationWorkflow, ILASTIK_WORKFLOWS["Object Classification"],
                      load_object_classification))
