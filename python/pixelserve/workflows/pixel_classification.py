"""Pixel Classification and Autocontext: one stage, or several chained."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import h5py
import numpy as np

from ..errors import ProjectError
from ..export.result import ResultSource
from ..features import STRUCTURE_TENSOR_ORDERS, check_image_size, feature_count, minimum_size
from ..project.ilp import ProjectFile
from ..project.pixel_classification import StageModel, count_stages, read_stage, structure_tensor_order_for
from .base import InputRole, Workflow, canonical_region, default_output_axis_order, result_axes, to_result_axes
from .lane import LaneRequest, LaneResult
from .registry import ILASTIK_WORKFLOWS, LoadSettings, WorkflowType, register
from .stages import Stage, StageChain
from .volume import Box, Volume

RAW_DATA = "Raw Data"
PREDICTION_MASK = "Prediction Mask"


class SourceKind(Enum):
    """What an export source shows; the value is ilastik's name for it."""

    PROBABILITIES = "Probabilities"
    SIMPLE_SEGMENTATION = "Simple Segmentation"
    UNCERTAINTY = "Uncertainty"
    FEATURES = "Features"
    LABELS = "Labels"
    INPUT = "Input"                        # Autocontext only
    ALL_PROBABILITIES = "Probabilities All Stages"


PER_STAGE_KINDS = (SourceKind.PROBABILITIES, SourceKind.SIMPLE_SEGMENTATION,
                   SourceKind.UNCERTAINTY, SourceKind.FEATURES, SourceKind.LABELS)


@dataclass(frozen=True)
class ExportSource:
    kind: SourceKind
    stage: int


class PixelClassificationWorkflow(Workflow):
    """Pixel Classification: one stage of pixel features and a random forest."""

    title = "Pixel Classification"
    autocontext = False  # export sources named per stage

    def __init__(self, project: ProjectFile, models: list[StageModel],
                 structure_tensor_order: str):
        self.project = project
        self.workflow_name = project.workflow_name
        self.structure_tensor_order = structure_tensor_order
        training = project.training_raw
        self.training_depth = training.depth
        self.training_channels = training.size("c")
        raw_channels = self.training_channels or _channels_from_forest(models[0], self.training_depth)
        # Stage k sees the raw channels followed by stage k-1's probabilities.
        self.stages: list[Stage] = []
        for index, model in enumerate(models):
            previous_classes = models[index - 1].n_classes if index else 0
            self.stages.append(Stage(model, raw_channels + previous_classes, self.training_depth,
                                     structure_tensor_order, project.path.name))
        self._sources = self._build_sources()

    # -- what the workflow offers ------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return self.stages[-1].model.label_names

    @property
    def label_colors(self) -> list[tuple[int, int, int]]:
        return [tuple(int(v) for v in color) for color in self.stages[-1].model.label_colors]

    @property
    def input_roles(self) -> list[InputRole]:
        training = self.project.training_raw
        dims = 3 if self.training_depth > 1 else 2
        channels = self.training_channels or self.stages[0].n_input_channels
        roles = [InputRole(RAW_DATA, True, training.axes, channels, dims)]
        if PREDICTION_MASK in self.project.role_names:
            roles.append(InputRole(PREDICTION_MASK, False, "", None, None))
        return roles

    @property
    def export_sources(self) -> list[str]:
        return list(self._sources)

    @property
    def default_export_source(self) -> str:
        return self._name(ExportSource(SourceKind.PROBABILITIES, len(self.stages)))

    @property
    def min_image_size(self) -> int:
        """Smallest side (pixels) an image may have for the selected filters."""
        return max(minimum_size(stage.specs) for stage in self.stages)

    @property
    def export_defaults(self):
        return self.project.export_defaults

    def memory_bytes(self) -> int:
        """The forests as read and as compiled for prediction dominate."""
        return sum(forest.nbytes for stage in self.stages for forest in stage.model.forests) + \
            sum(stage.ensemble.nbytes for stage in self.stages)

    # -- computing ---------------------------------------------------------------------------
    def make_lane(self, inputs: dict[str, Volume], request: LaneRequest, parallel_blocks: int) -> LaneResult:
        raw = inputs[RAW_DATA]
        spatial = tuple(n for n, a in zip(raw.spatial_shape, "zyx") if a in raw.own_axes or n > 1)
        for stage in self.stages:
            check_image_size(stage.specs, spatial)
        chain = StageChain(self.stages, raw, inputs.get(PREDICTION_MASK), raw.shape[1])
        return LaneResult(PixelResultSource(chain, self._sources[request.export_source], parallel_blocks))

    def _name(self, source: ExportSource) -> str:
        if source.kind is SourceKind.ALL_PROBABILITIES or not self.autocontext:
            return source.kind.value
        return f"{source.kind.value} Stage {source.stage}"

    def _build_sources(self) -> dict[str, ExportSource]:
        sources: list[ExportSource] = []
        for stage in range(1, len(self.stages) + 1):
            kinds = PER_STAGE_KINDS + ((SourceKind.INPUT,) if self.autocontext else ())
            sources += [ExportSource(kind, stage) for kind in kinds]
        if self.autocontext:
            sources.append(ExportSource(SourceKind.ALL_PROBABILITIES, len(self.stages)))
        return {self._name(source): source for source in sources}


def _rows_per_block(rows: int, halo: int, threads: int) -> int:
    """Rows of the blocks that split one small image among `threads` threads, when that pays.

    One block would leave all but one thread idle (a single image sent to the server or from
    Fiji), but each extra block recomputes its halo: split into k parts only while a part
    with its halos takes at most 70 % of the whole image's time."""
    for parts in range(min(threads, rows // 32), 1, -1):
        part = -(-rows // parts)
        if (part + 2 * halo) <= 0.7 * (rows + 2 * halo):
            return part
    return rows


class AutocontextWorkflow(PixelClassificationWorkflow):
    """Autocontext: stages chained, each seeing the raw data and the previous probabilities."""

    title = "Autocontext"
    autocontext = True


class PixelResultSource(ResultSource):
    """One export source of one lane, computed block by block."""

    def __init__(self, chain: StageChain, source: ExportSource, parallel_blocks: int = 1):
        self.chain = chain
        self.source = source
        raw = chain.raw
        self.axes = result_axes(raw)
        self.default_axis_order = default_output_axis_order(raw)
        stage = chain.stage(source.stage)
        kind = source.kind
        channels, dtype = {
            SourceKind.PROBABILITIES: (stage.n_classes, np.float32),
            SourceKind.SIMPLE_SEGMENTATION: (1, np.uint8),
            SourceKind.UNCERTAINTY: (1, np.float32),
            SourceKind.FEATURES: (stage.n_features, np.float32),
            SourceKind.LABELS: (1, np.uint8),
            SourceKind.INPUT: (chain.input_channels(source.stage), raw.dtype),
            SourceKind.ALL_PROBABILITIES: (sum(s.n_classes for s in chain.stages), np.float32),
        }[kind]
        self.dtype = np.dtype(dtype)
        self._shape5 = raw.shape[:4] + (channels,)
        self.shape = tuple(self._shape5["tzyxc".index(a)] for a in self.axes)
        self.block_shape = self._choose_block_shape(stage, channels, parallel_blocks)
        self.label_names = stage.model.label_names
        self._set_display(chain, kind, stage)
        self.drange = (0.0, 1.0) if kind in (SourceKind.PROBABILITIES, SourceKind.UNCERTAINTY,
                                             SourceKind.ALL_PROBABILITIES) else None
        self.resolution = raw.resolution
        self.input_scales = raw.scales

    def _set_display(self, chain: StageChain, kind: SourceKind, stage: Stage) -> None:
        """Channel names and colours, and label colours for label images (ImageJ metadata)."""
        self.channel_names: tuple[str, ...] = ()
        self.channel_colors: tuple = ()
        self.label_colors: tuple = ()
        model = stage.model
        if kind is SourceKind.PROBABILITIES:
            self.channel_names = tuple(model.label_names)
            self.channel_colors = tuple(map(tuple, model.label_colors))
        elif kind is SourceKind.ALL_PROBABILITIES:
            self.channel_names = tuple(f"Stage {s.index} {name}" for s in chain.stages for name in s.model.label_names)
            self.channel_colors = tuple(tuple(c) for s in chain.stages for c in s.model.label_colors)
        elif kind is SourceKind.FEATURES:
            self.channel_names = tuple(stage.feature_names)
        elif kind is SourceKind.UNCERTAINTY:
            self.channel_names = ("Uncertainty",)
        elif kind in (SourceKind.SIMPLE_SEGMENTATION, SourceKind.LABELS):
            self.channel_names = (kind.value,)
            self.label_colors = tuple(map(tuple, model.label_colors))

    def _choose_block_shape(self, stage: Stage, channels: int, parallel_blocks: int) -> tuple[int, ...]:
        """Blocks big enough that halos cost little, small enough that the feature stack of a
        block (pixels x features x 4 bytes) stays around 256 MB."""
        t, z, y, x = self._shape5[:4]
        n_features = max(stage.n_features, channels)
        budget = max(4096, (256 << 20) // (4 * n_features))
        # Earlier stages are computed on boxes widened by later stages' halos: sum them.
        z_halo = sum(h[0] for h in self.chain.halos)
        xy_halo = sum(h[1] for h in self.chain.halos)
        if z > 1 and z_halo > 0:
            edge = int(min(max(4 * max(z_halo, xy_halo), 64), round(budget ** (1 / 3))))
            edge = max(edge, 16)
            block = (1, min(z, edge), min(y, edge), min(x, edge))
        else:
            edge = int(min(max(8 * xy_halo, 512), math.isqrt(budget)))
            edge = max(edge, 64)
            plane = min(y, edge) * min(x, edge)
            block = (1, min(z, max(1, budget // plane)), min(y, edge), min(x, edge))
        if block[:4] == (t, z, y, x) and parallel_blocks > 1:
            block = (1, z, _rows_per_block(y, xy_halo, parallel_blocks), x)
        block5 = block + (self._shape5[4],)
        return tuple(block5["tzyxc".index(a)] for a in self.axes)

    def block_working_bytes(self) -> int:
        """Peak memory one thread holds while computing one block (an estimate).

        Stage k computes its features (float32, one per feature) on the block widened by the
        later stages' halos, then its probabilities. Calibrated on the peak resident size
        one thread adds to a process (`pixelserve --headless --threads=1`, VmHWM minus the
        size after loading the project): 2D 512x512 blocks with 17 and 49 features, 126 and
        242 MB measured, 144 and 278 MB estimated; a 3D 64x103x103 block with 61 features,
        500 MB measured, 748 MB estimated; a whole 256x256 image, 36 MB measured, 117 MB
        estimated. The feature stack and its temporaries take about 4 times the stack, plus
        a fixed 64 MB of filter-response tiles (features.compute._STACK_BYTES)."""
        block = dict(zip(self.axes, self.block_shape))
        extent = [block.get(a, 1) for a in "zyx"]
        full = self._shape5[1:4]
        peak = 0
        for index, stage in enumerate(self.chain.stages):
            later = self.chain.halos[index + 1:]
            grown = [min(n, e + 2 * sum(h[axis] for h in later))
                     for axis, (n, e) in enumerate(zip(full, extent))]
            pixels = math.prod(grown)
            peak = max(peak, pixels * (stage.n_features + stage.n_classes) * 4)
        return 4 * peak + (64 << 20)

    def compute(self, start, stop) -> np.ndarray:
        region = canonical_region(self.axes, start, stop, self._shape5)
        box = Box(region["z"], region["y"], region["x"])
        c0, c1 = region["c"]
        planes = [self._compute_time_point(t, box)[..., c0:c1] for t in range(*region["t"])]
        return to_result_axes(np.stack(planes), self.axes)

    def _compute_time_point(self, t: int, box: Box) -> np.ndarray:
        chain, kind, index = self.chain, self.source.kind, self.source.stage
        if kind is SourceKind.PROBABILITIES:
            return chain.probabilities(index, t, box)
        if kind is SourceKind.SIMPLE_SEGMENTATION:
            return _segmentation(chain.probabilities(index, t, box))
        if kind is SourceKind.UNCERTAINTY:
            return _uncertainty(chain.probabilities(index, t, box))
        if kind is SourceKind.FEATURES:
            return chain.features(index, t, box)
        if kind is SourceKind.LABELS:
            # New images carry no annotations: the label image is empty, as in ilastik.
            return np.zeros(box.shape + (1,), dtype=np.uint8)
        if kind is SourceKind.INPUT:
            return chain.stage_input(index, t, box)
        return np.concatenate([chain.probabilities(k, t, box)
                               for k in range(1, len(chain.stages) + 1)], axis=-1)


def _segmentation(probabilities: np.ndarray) -> np.ndarray:
    """Winning label (1-based) per pixel; 0 where every probability is 0 (masked out)."""
    winner = probabilities.argmax(axis=-1).astype(np.uint8) + 1
    winner[probabilities.max(axis=-1) <= 0] = 0
    return winner[..., None]


def _uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """1 - (best - second best), as ilastik defines it; 0 with a single class."""
    if probabilities.shape[-1] < 2:
        return np.zeros(probabilities.shape[:-1] + (1,), dtype=np.float32)
    top_two = np.partition(probabilities, -2, axis=-1)[..., -2:]
    return (1.0 - (top_two[..., 1] - top_two[..., 0]))[..., None].astype(np.float32)


def _channels_from_forest(model: StageModel, depth: int) -> int:
    """Old projects without a stored shape: the channel count the forest was trained on."""
    per_channel = feature_count(model.feature_specs, 1, depth)
    return max(1, model.forests[0].n_features // per_channel)


def load_pixel_classification(file: h5py.File, project: ProjectFile, settings: LoadSettings) -> PixelClassificationWorkflow:
    """Read the stages of a Pixel Classification or Autocontext project."""
    order = settings.structure_tensor_order
    if order is None:
        order = structure_tensor_order_for(project)
    elif order not in STRUCTURE_TENSOR_ORDERS:
        raise ProjectError(f"Unknown structure tensor order '{order}': use one of {', '.join(STRUCTURE_TENSOR_ORDERS)}.")
    _ = project.training_raw  # a project without input data is refused first
    stages = count_stages(file)
    if stages == 0:
        raise ProjectError(f"{project.path.name} has no feature selection or classifier groups: it "
                           "is not a trained pixel classification project.")
    models = [read_stage(file, k, project) for k in range(1, stages + 1)]
    workflow_class = AutocontextWorkflow if project.workflow_name in ILASTIK_WORKFLOWS["Autocontext"] \
        else PixelClassificationWorkflow
    return workflow_class(project, models, order)


register(WorkflowType(PixelClassificationWorkflow, ILASTIK_WORKFLOWS["Pixel Classification"], load_pixel_classification))
register(WorkflowType(AutocontextWorkflow, ILASTIK_WORKFLOWS["Autocontext"], load_pixel_classification))
