"""Boundary-based Segmentation with Multicut ("Edge Training With Multicut"): superpixels from
a boundary probability map, their region adjacency graph, edge probabilities from the
project's edge classifier, and the multicut that joins superpixels into segments.

The result is lane-wide: each time point is segmented as a whole (ilastik works on one
2D or 3D volume). A lane computes, per time point, the superpixels (ilastik's watershed on
the distance transform, blockwise where the project says so; or the supplied `Superpixels`;
or, for the project's own training image, the superpixels ilastik stored), the graph, the
edge features and probabilities, the weights and the multicut, and keeps only the
superpixels and each superpixel's segment label: blocks of the segmentation are looked up
from them. Facts about ilastik's side are in `pixelserve.multicut` and `project/multicut.py`.

Export sources: ilastik's "Multicut Segmentation" (uint32, the solver's node labels as
ilastik writes them) and, as a pixelserve extra, the "Superpixels"; the table "edges" gives
each edge's superpixels, probability, weight and whether the multicut cut it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import h5py
import numpy as np

from ..blocks import Cancelled
from ..classifiers import ForestEnsemble
from ..errors import ProjectError, UserError
from ..export.label_palette import glasbey_colors
from ..export.tables import Table
from ..headless.batch_plan import memory_budget
from ..io.paths import split_container_path, split_path_list
from ..multicut import (
    BOUNDARY_CHANNEL,
    LegacyWatershedSettings,
    boundary_map,
    channel_names,
    classifier_probabilities,
    edge_features,
    edge_weights,
    legacy_superpixels,
    no_classifier_probabilities,
    region_adjacency_graph,
    require_columns,
    solve,
    solver_name,
    superpixels,
    voxel_channels,
)
from ..multicut.solvers import ALIASES, SOLVERS
from ..multicut.superpixels import BLOCK_EDGE, BYTES_PER_PIXEL, HALO
from ..project.ilp import DatasetInfo, ProjectFile
from ..project.multicut import MulticutModel, read_multicut, read_stored_superpixels
from .base import InputRole, Workflow, canonical_region, default_output_axis_order, result_axes, to_result_axes
from .lane import LaneRequest, LaneResult, LaneState, LaneWideResult
from .options import WorkflowOption, parse_options
from .registry import ILASTIK_WORKFLOWS, LoadSettings, WorkflowType, register
from .volume import Box, Volume

RAW_DATA = "Raw Data"
PROBABILITIES = "Probabilities"
SUPERPIXELS = "Superpixels"
SEGMENTATION = "Multicut Segmentation"  # ilastik's only export source
EDGE_TABLE = "edges"
# Bytes per pixel of a time point while its graph and edge features are computed, beyond the
# inputs, superpixels and boundary map: the graph's faces and the float32 copy of one channel.
# Measured 22-26 on generated 3D cells (128^3 and 192^3, superpixels of ~1,400 pixels, 20
# feature columns); superpixels of a few pixels have more faces per pixel.
GRAPH_BYTES_PER_PIXEL = 32


@dataclass(frozen=True)
class MulticutRun:
    """The multicut settings of one run: the project's, overridden by the run's options."""

    solver: str
    seed: int
    beta: float
    threshold: float


class MulticutWorkflow(Workflow):
    """A trained Boundary-based Segmentation with Multicut project."""

    title = "Multicut"
    options = (
        WorkflowOption("solver", "the multicut solver, by ilastik's name (default: the project's)",
                       choices=SOLVERS + tuple(ALIASES)),
        WorkflowOption("seed", "random seed of the fusion-move solvers (the same seed gives the same result)",
                       kind="integer", default=0),
        WorkflowOption("beta", "boundary bias between 0 and 1 (default: the project's); higher values cut more "
                       "edges", kind="number"),
        WorkflowOption("probability_threshold", "edge probability at which cutting and joining weigh the same, "
                       "between 0 and 1 (default: the project's)", kind="number"),
        WorkflowOption("edge_table_filename", "also write each lane's edges here (.csv or .h5): superpixels, "
                       "probability, weight, cut", kind="path"),
    )
    table_names = (EDGE_TABLE,)

    def __init__(self, model: MulticutModel, stored_superpixels: dict[int, np.ndarray]):
        self.model = model
        self.project: ProjectFile = model.project
        self.workflow_name = self.project.workflow_name
        self.stored_superpixels = stored_superpixels
        classifier = model.classifier
        if model.train_random_forest and classifier is None:
            raise ProjectError(f"{self.project.path.name} uses an edge classifier but stores none (it was not "
                               "trained). Fix: in ilastik's Training and Multicut applet, label edges, press Live "
                               "Predict and save the project; or switch 'Train edge classifier' off.")
        known = set(classifier.known_labels) if classifier is not None else set()
        # A classifier that knows one label only predicts a constant, without its forests.
        self.ensemble = ForestEnsemble(list(classifier.forests)) if len(known) > 1 else None
        if self.ensemble is not None and self.ensemble.n_features != len(classifier.feature_names):
            raise ProjectError(f"{self.project.path.name}: the edge classifier reads {self.ensemble.n_features} "
                               f"features but names {len(classifier.feature_names)}. Fix: retrain it in ilastik.")

    # -- what the workflow offers ------------------------------------------------------------
    @property
    def input_roles(self) -> list[InputRole]:
        return [self._role(RAW_DATA, True), self._role(PROBABILITIES, True),
                InputRole(SUPERPIXELS, False, self._training_axes(SUPERPIXELS), 1, None)]

    @property
    def export_sources(self) -> list[str]:
        return [SEGMENTATION, SUPERPIXELS]

    @property
    def default_export_source(self) -> str:
        return SEGMENTATION

    @property
    def export_defaults(self):
        return self.project.export_defaults

    def memory_bytes(self) -> int:
        """The forests as read and compiled, and the stored superpixels of the training images."""
        forests = sum(forest.nbytes for forest in self.model.classifier.forests) if self.model.classifier else 0
        compiled = self.ensemble.nbytes if self.ensemble is not None else 0
        return forests + compiled + sum(labels.nbytes for labels in self.stored_superpixels.values())

    # -- computing ---------------------------------------------------------------------------
    def make_lane(self, inputs: dict[str, Volume], request: LaneRequest, parallel_blocks: int) -> LaneResult:
        raw, probabilities = inputs[RAW_DATA], inputs[PROBABILITIES]
        self._check_channels(raw, probabilities)
        supplied = inputs.get(SUPERPIXELS)
        if supplied is not None and supplied.dtype.kind not in "ui":
            raise UserError(f"The superpixels {supplied.name} are {supplied.dtype}, not integer labels. Fix: pass "
                            "a label image (ilastik's superpixels are uint32).")
        options = parse_options(self.options, dict(request.options))   # defaults where a caller gave none
        state = MulticutState(self, raw, probabilities, supplied, self._run(options),
                              self._stored_for(raw, probabilities) if supplied is None else None)
        image = MulticutImage(state, request.export_source) if request.image else None
        table_file = options["edge_table_filename"]

        def tables() -> list[Table]:
            if table_file is None and not request.tables:
                return []
            return [Table(EDGE_TABLE, state.edge_columns(), file=table_file)]

        return LaneResult(image, state, tables,
                          table_files={table_file: "edge_table_filename"} if table_file else {})

    def _run(self, options) -> MulticutRun:
        run = MulticutRun(solver=solver_name(options["solver"] or self.model.solver_name), seed=int(options["seed"]),
                          beta=self.model.beta if options["beta"] is None else float(options["beta"]),
                          threshold=self.model.probability_threshold if options["probability_threshold"] is None
                          else float(options["probability_threshold"]))
        for name, value in (("beta", run.beta), ("probability_threshold", run.threshold)):
            if not 0.0 < value < 1.0:
                raise UserError(f"--{name}={value} is not strictly between 0 and 1. Fix: give e.g. --{name}=0.5.")
        return run

    def _role(self, role: str, required: bool) -> InputRole:
        """A role whose channel count the edge classifier fixes when it reads the role's
        channels and the project stores the training image's shape."""
        info = self._training_info(role)
        read = any(name == role or name.startswith(role + "-") for name in self._classifier_channels())
        channels = info.size("c") if info is not None and read else None
        return InputRole(role, required, info.axes if info is not None else "", channels, None)

    def _training_info(self, role: str) -> DatasetInfo | None:
        lanes = [lane for lane in self.project.lanes if role in lane]
        return lanes[-1][role] if lanes else None

    def _training_axes(self, role: str) -> str:
        info = self._training_info(role)
        return info.axes if info is not None else ""

    def _classifier_channels(self) -> list[str]:
        """The input channels whose features the edge classifier reads."""
        if self.ensemble is None:
            return []
        return [channel for channel, names in self.model.feature_names.items() if names]

    def _check_channels(self, raw: Volume, probabilities: Volume) -> None:
        """Refuse inputs whose channels cannot give the classifier's columns, or lack the
        watershed's boundary channel, before anything is computed."""
        selected = self.model.watershed.channels
        if max(selected) >= probabilities.channels:
            raise UserError(f"The project's watershed reads probability channel(s) {list(selected)}, but "
                            f"{probabilities.name} has {probabilities.channels} channel(s). Fix: pass the "
                            "probability map the project was trained with.")
        given = set(channel_names(RAW_DATA, raw.channels) + channel_names(PROBABILITIES, probabilities.channels)
                    + [BOUNDARY_CHANNEL])
        missing = [channel for channel in self._classifier_channels() if channel not in given]
        if missing:
            raise UserError(f"The edge classifier reads features of the channel(s) {missing}, which inputs with "
                            f"{raw.channels} raw and {probabilities.channels} probability channel(s) do not have. "
                            "Fix: pass raw data and probabilities with the channels the project was trained on.")

    def _stored_for(self, raw: Volume, probabilities: Volume) -> np.ndarray | None:
        """The superpixels ilastik stored for a training image, when these inputs are that
        image's files (ilastik shows, exports and trained on exactly those)."""
        if raw.time_points != 1:
            return None
        shape = _frame_shape(raw)
        for lane_index, labels in self.stored_superpixels.items():
            lane = self.project.lanes[lane_index] if lane_index < len(self.project.lanes) else {}
            info = lane.get(PROBABILITIES)
            if labels.shape != shape or info is None or info.axes.replace("c", "") != "zyx"[3 - len(shape):]:
                continue
            if all(_same_file(lane.get(role), volume, self.project.path.parent)
                   for role, volume in ((RAW_DATA, raw), (PROBABILITIES, probabilities))):
                return labels
        return None


class MulticutState(LaneState):
    """Per time point: the superpixels, each superpixel's segment, and the graph's edges with
    their probabilities and weights."""

    PHASES = ("region adjacency graph", "edge features", "edge probabilities", "multicut")

    def __init__(self, workflow: MulticutWorkflow, raw: Volume, probabilities: Volume, supplied: Volume | None,
                 run: MulticutRun, stored: np.ndarray | None):
        super().__init__()
        self.workflow = workflow
        self.raw = raw
        self.probabilities = probabilities
        self.supplied = supplied
        self.run = run
        self.stored = stored
        self.superpixels: list[np.ndarray] = []   # (z, y, x) uint32 per time point
        self.node_labels: list[np.ndarray] = []   # segment of each superpixel id
        self.edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (edges, probabilities, weights)

    @property
    def watershed_blocks(self) -> int:
        """Progress steps of one time point's superpixels (its watershed blocks)."""
        settings = self.workflow.model.watershed
        if self.supplied is not None or self.stored is not None or isinstance(settings, LegacyWatershedSettings) \
                or not settings.blockwise:
            return 1
        shape = _frame_shape(self.raw)
        edge = BLOCK_EDGE[len(shape)]
        return math.prod(-(-n // edge) for n in shape)

    def frame_bytes(self, threads: int) -> int:
        """Peak memory of one time point (an estimate): its inputs as read and as float32,
        its superpixels and boundary map, and the larger of the watershed (the whole image,
        or one block with its halo per thread) and the graph with its edge features."""
        pixels = math.prod(self.raw.spatial_shape)
        inputs = pixels * (self.raw.channels * (self.raw.dtype.itemsize + 4)
                           + self.probabilities.channels * (self.probabilities.dtype.itemsize + 4))
        if self.supplied is not None or self.stored is not None:
            watershed = 0
        elif self.watershed_blocks > 1:
            shape = _frame_shape(self.raw)
            block = math.prod(min(n, BLOCK_EDGE[len(shape)] + 2 * HALO) for n in shape)
            watershed = min(threads, self.watershed_blocks) * block * BYTES_PER_PIXEL
        else:
            watershed = pixels * BYTES_PER_PIXEL
        return inputs + 8 * pixels + max(watershed, pixels * GRAPH_BYTES_PER_PIXEL)

    def held_bytes(self) -> int:
        """What the lane keeps for its blocks and tables: the superpixels of every time point."""
        return 4 * self.raw.time_points * math.prod(self.raw.spatial_shape)

    def compute(self, progress, *, threads, pool, cancel) -> None:
        frames = self.raw.time_points
        steps = self.watershed_blocks + len(self.PHASES)
        budget = memory_budget()[0]
        needed = self.frame_bytes(threads) + self.held_bytes()
        if budget is not None and needed > budget:
            raise UserError(
                f"The multicut of {self.raw.name} needs about {_amount(needed)} (the graph and edge features of "
                f"a whole {'x'.join(map(str, _frame_shape(self.raw)))} volume at once), more than the "
                f"{_amount(budget)} available. Fix: run on a machine with more memory, or segment a "
                "cropped part of the image (crop the inputs: --cutout_subregion only crops the output).")

        def check() -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled()

        for t in range(frames):
            base = t * steps

            def watershed_progress(done: int, total: int, base=base) -> None:
                progress(base + done, frames * steps, "superpixels")

            progress(base, frames * steps, "superpixels")
            labels, raw, probabilities, boundary = self._superpixels(t, threads, pool, cancel, watershed_progress,
                                                                     budget)
            check()
            step = iter(range(base + self.watershed_blocks, base + steps))
            progress(next(step), frames * steps, self.PHASES[0])
            rag = region_adjacency_graph(labels)
            check()
            progress(next(step), frames * steps, self.PHASES[1])
            features = self._edge_features(rag, raw, probabilities, boundary)
            del raw, probabilities
            check()
            progress(next(step), frames * steps, self.PHASES[2])
            edge_probabilities = self._edge_probabilities(features, threads)
            weights = edge_weights(rag.edges, edge_probabilities, self.run.beta, self.run.threshold)
            check()
            progress(next(step), frames * steps, self.PHASES[3])
            node_labels = solve(rag.edges, weights, rag.n_nodes, self.run.solver, seed=self.run.seed)
            self.superpixels.append(labels.reshape(self.raw.spatial_shape))
            self.node_labels.append(node_labels)
            self.edges.append((rag.edges, edge_probabilities, weights))
            check()
        progress(frames * steps, frames * steps, self.PHASES[3])

    def _superpixels(self, t: int, threads: int, pool, cancel, progress, budget):
        """(superpixels, raw, probabilities as float32 in [0, 1], boundary map) of time point t,
        spatial axes only ((z,) y, x), channels last."""
        whole = Box.whole(self.raw.spatial_shape)
        shape = _frame_shape(self.raw)
        raw = self.raw.read(t, whole).reshape(shape + (self.raw.channels,))
        probabilities = normalised_probabilities(self.probabilities.read(t, whole)).reshape(
            shape + (self.probabilities.channels,))
        settings = self.workflow.model.watershed
        boundary = boundary_map(probabilities, settings.channels)
        if self.supplied is not None:
            labels = self.supplied.read(t, whole)[..., 0].reshape(shape)
            if labels.size and (labels.min() < 0 or int(labels.max()) >= 2**32 - 1):
                raise UserError(f"The superpixels {self.supplied.name} hold values outside 0 .. 2^32 - 2. Fix: pass "
                                "superpixel labels that fit uint32, as ilastik's.")
            labels = labels.astype(np.uint32)
        elif self.stored is not None:
            labels = self.stored
        elif isinstance(settings, LegacyWatershedSettings):
            labels = legacy_superpixels(boundary, settings, memory_budget=budget)
        else:
            labels = superpixels(boundary, settings, memory_budget=budget, threads=threads, pool=pool, cancel=cancel,
                                 progress=progress)
        return labels, raw, probabilities, boundary

    def _edge_features(self, rag, raw, probabilities, boundary) -> np.ndarray:
        """The classifier's feature matrix, or without a classifier the boundary's edge means."""
        workflow = self.workflow
        if workflow.model.classifier is None:
            table = edge_features(rag, [(BOUNDARY_CHANNEL, boundary)], {BOUNDARY_CHANNEL: ["standard_edge_mean"]})
            return table.values[:, 0]
        if workflow.ensemble is None:
            return np.zeros((rag.n_edges, 0), dtype=np.float32)
        table = edge_features(rag, voxel_channels(raw, probabilities, boundary), workflow.model.feature_names,
                              widen_edge_histogram=workflow.model.widen_edge_histogram)
        require_columns(table, workflow.model.classifier.feature_names)
        return table.values

    def _edge_probabilities(self, features: np.ndarray, threads: int) -> np.ndarray:
        classifier = self.workflow.model.classifier
        if classifier is None:
            return no_classifier_probabilities(features)
        return classifier_probabilities(features, self.workflow.ensemble, classifier.known_labels, threads=threads)

    def edge_columns(self) -> dict[str, np.ndarray]:
        """The edges of every time point: superpixel ids (ilastikrag's sp1 < sp2), the edge
        probability, the multicut weight (positive: joining pays) and whether it was cut."""
        self.require()
        timestep, sp1, sp2, probability, weight, cut = [], [], [], [], [], []
        for t, ((edges, p, w), labels) in enumerate(zip(self.edges, self.node_labels)):
            timestep.append(np.full(len(edges), t, dtype=np.int64))
            sp1.append(edges[:, 0])
            sp2.append(edges[:, 1])
            probability.append(p)
            weight.append(w)
            cut.append((labels[edges[:, 0]] != labels[edges[:, 1]]).astype(np.uint8))
        columns = {"timestep": timestep, "sp1": sp1, "sp2": sp2, "probability": probability, "weight": weight,
                   "cut": cut}
        return {name: np.concatenate(parts) for name, parts in columns.items()}


class MulticutImage(LaneWideResult):
    """The segmentation (or the superpixels) of a lane, block by block from its state."""

    def __init__(self, state: MulticutState, source: str):
        super().__init__(state)
        raw = state.raw
        self.source = source
        self.axes = result_axes(raw)
        self._shape5 = raw.shape[:4] + (1,)
        self.shape = tuple(self._shape5["tzyxc".index(a)] for a in self.axes)
        self.dtype = np.dtype(np.uint32)
        preferred = {"t": 1, "z": 64, "y": 512, "x": 512}
        self.block_shape = tuple(min(n, preferred.get(a, n)) for a, n in zip(self.axes, self.shape))
        self.default_axis_order = default_output_axis_order(raw)
        self.resolution = raw.resolution
        self.input_scales = raw.scales
        self.display_mode = "random-colortable"   # ilastik's hint for its label outputs
        self.channel_names = (source,)
        self.label_colors = glasbey_colors()

    def compute(self, start, stop) -> np.ndarray:
        self.state.require()
        region = canonical_region(self.axes, start, stop, self._shape5)
        box = tuple(slice(*region[a]) for a in "zyx")
        planes = []
        for t in range(*region["t"]):
            labels = self.state.superpixels[t][box]
            if self.source == SEGMENTATION:
                labels = self.state.node_labels[t][labels]
            planes.append(labels[..., None])
        return to_result_axes(np.stack(planes), self.axes)

    def lane_bytes(self) -> int:
        return self.state.held_bytes() + self.state.frame_bytes(threads=1)


def normalised_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Probabilities as float32 in [0, 1] the way ilastik makes them: scaled from their value
    range when the input has one other than (0, 1), which ilastik gives 8-bit images (0, 255)
    (`edgeTrainingWithMulticutWorkflow.py` normalize_inplace, `opDataSelection.py`)."""
    result = probabilities.astype(np.float32)
    if probabilities.dtype == np.uint8:
        result /= np.float32(255)
    return result


def _amount(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MB"


def _frame_shape(volume: Volume) -> tuple[int, ...]:
    """One time point's spatial shape: (y, x) for 2D images, else (z, y, x)."""
    z, y, x = volume.spatial_shape
    return (y, x) if z == 1 else (z, y, x)


def _same_file(info: DatasetInfo | None, volume: Volume, project_folder) -> bool:
    """Whether `volume` reads the one file (and internal dataset) the project stores for a role."""
    if info is None or volume.dataset is None or len(volume.dataset.paths) != 1:
        return False
    stored = split_path_list(info.file_path)
    if len(stored) != 1:
        return False
    external, internal, _ = split_container_path(stored[0])
    given = volume.dataset
    same_path = os.path.normcase(os.path.abspath(os.path.join(project_folder, external))) == \
        os.path.normcase(os.path.abspath(given.paths[0]))
    return same_path and (internal or "").strip("/") == (given.internal_path or "").strip("/")


def load_multicut(file: h5py.File, project: ProjectFile, settings: LoadSettings) -> MulticutWorkflow:
    """Read a Boundary-based Segmentation with Multicut project and its stored superpixels."""
    stored = {}
    for lane in range(len(project.lanes)):
        labels = read_stored_superpixels(file, lane)
        if labels is not None:
            stored[lane] = labels
    return MulticutWorkflow(read_multicut(file, project), stored)


register(WorkflowType(MulticutWorkflow, ILASTIK_WORKFLOWS["Multicut"], load_multicut))
