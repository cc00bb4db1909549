"""Cell Density Counting: a density of objects per pixel, whose sum over an image is its count.

ilastik exports one image, `Probabilities` (the density, float32, 1 channel;
`workflows/counting/countingWorkflow.py`), and with `--csv-export-file` one `nickname,count`
line per image of the run (`countingDataExportApplet.py` write_csv_results: `str()` of the
count, a float64). Here the count is the table "counts" (image, count): the headless run
writes it as that CSV file (one file per run, no header) and shows each image's count in its
log line and the batch's summary; the server and the Python API return it.

The regressors: stored pixelserve regressors when the project holds fresh ones, else trained
from the project's labels on its training images the first time a lane of a given `--seed`
is opened, and kept: a loaded project trains once per seed, so a batch trains in its main
process before its workers fork, the server once in its warm cache, and a headless run with
`--server` not at all.

The lane is lane-wide: `prepare` computes the density block by block (the features of one
block at a time, on all threads) into one float32 plane and sums it; the image's blocks are
read from that plane. Counting's images are single 2D planes, so the plane costs no more than
the exported image, and this way the count is always the whole image's, as ilastik's, also
with a cutout or --table_only, and a remote run fetches image and count in one call.
"""

from __future__ import annotations

import logging
import math
import threading

import h5py
import numpy as np

from ..blocks import iter_blocks, map_blocks
from ..counting import DensityCounter, DensityPredictor, check_counting_input, train_counting
from ..counting.prediction import COUNT_TILE
from ..counting.training import training_images
from ..errors import ProjectError, UserError
from ..export.result import ResultSource
from ..export.tables import Table
from ..features import STRUCTURE_TENSOR_ORDERS, check_image_size, feature_count, minimum_size
from ..project.counting import BACKGROUND, DOT, CountingModel, read_counting
from ..project.ilp import ProjectFile
from .base import InputRole, Workflow, canonical_region, default_output_axis_order, result_axes, to_result_axes
from .lane import LaneRequest, LaneResult, LaneState, LaneWideResult
from .options import WorkflowOption
from .registry import ILASTIK_WORKFLOWS, LoadSettings, WorkflowType, register
from .volume import Box, Volume

logger = logging.getLogger(__name__)

RAW_DATA = "Raw Data"
DENSITY = "Probabilities"   # ilastik's name for the density, its only export source
COUNTS = "counts"
# Features of one density block stay around this size (as in pixel classification).
BLOCK_FEATURE_BYTES = 256 << 20


class CountingWorkflow(Workflow):
    """Cell Density Counting: density regressors on pixel features, and the count."""

    title = "Counting"
    options = (
        WorkflowOption("csv_export_file", "write each image's count to this CSV file, one "
                       "'nickname,count' line per image of the run (ilastik's --csv-export-file; "
                       "default: the project's)", kind="path"),
        WorkflowOption("seed", "seed of the regressors' training, for repeatable densities; used "
                       "when the project stores no pixelserve regressors (default: random)",
                       kind="integer"),
    )
    table_names = (COUNTS,)

    def __init__(self, model: CountingModel, check_stored_file=None):
        self.model = model
        self.check_stored_file = check_stored_file
        self.project = model.project
        self.workflow_name = model.project.workflow_name
        self.specs = model.feature_specs
        self._stored = None if model.stored_regressors is None else \
            DensityPredictor(model.stored_regressors, self.specs, model.structure_tensor_order)
        self._trained: dict[int | None, DensityPredictor] = {}
        self._training = threading.Lock()

    # -- what the workflow offers ------------------------------------------------------------
    @property
    def input_roles(self) -> list[InputRole]:
        training = self.project.training_raw
        return [InputRole(RAW_DATA, True, training.axes, training.size("c"), 2)]

    @property
    def export_sources(self) -> list[str]:
        return [DENSITY]

    @property
    def default_export_source(self) -> str:
        return DENSITY

    @property
    def export_defaults(self):
        return self.project.export_defaults

    @property
    def min_image_size(self) -> int:
        return minimum_size(self.specs)

    def memory_bytes(self) -> int:
        """The compiled regressors: stored ones as they are, else an estimate from the labels
        (a dot gives about 220 training pixels at sigma 2.5; trees of bootstrap quarters grow
        about one leaf per sample; 40 trees of 2 nodes per leaf at ~40 bytes a node)."""
        predictors = [self._stored] if self._stored is not None else list(self._trained.values())
        if predictors:
            return sum(p.forests.nbytes for p in predictors)
        samples = sum(int(np.sum(lane.values == DOT)) * 220 + int(np.sum(lane.values == BACKGROUND))
                      for lane in self.model.labels)
        return max(1 << 20, 40 * 2 * (samples // 4) * 40)

    # -- the regressors ----------------------------------------------------------------------
    def predictor(self, seed: int | None, threads: int = 1) -> DensityPredictor:
        """The regressors for `seed`: the stored ones, else trained once per seed and kept."""
        if self._stored is not None:
            return self._stored
        with self._training:
            if seed not in self._trained:
                logger.info("%s: training the counting regressors from the project's labels "
                            "(seed %s)", self.project.path.name, seed)
                regressors = train_counting(self.model, training_images(self.model, check=self.check_stored_file), seed=seed,
                                            threads=threads)
                self._trained[seed] = DensityPredictor(regressors, self.specs,
                                                       self.model.structure_tensor_order)
            return self._trained[seed]

    # -- computing ---------------------------------------------------------------------------
    def make_lane(self, inputs: dict[str, Volume], request: LaneRequest, parallel_blocks: int) -> LaneResult:
        raw = inputs[RAW_DATA]
        expected = self._stored.n_features if self._stored is not None else \
            feature_count(self.specs, self.input_roles[0].channels or raw.channels, 1)
        check_counting_input(raw, self.specs, expected)   # before training: refuse 3D at once
        check_image_size(self.specs, raw.spatial_shape[1:])
        table_file = request.options["csv_export_file"] or self.model.csv_file
        # Blocks computed apart give no count: only a file asked for on the command line
        # keeps the lane whole (and so refused there), not the one the project names.
        blockwise = (request.block_local and request.image and not request.tables
                     and not request.options["csv_export_file"])
        if blockwise and self._stored is None and request.options["seed"] is None:
            raise UserError("Every block of this run is computed on its own, but the project stores no trained "
                            "regressors, so each process would train its own at random. Fix: give --seed, or store "
                            "them once with 'pixelserve train --workflow counting --project P.ilp --output P.ilp'")
        predictor = self.predictor(request.options["seed"], parallel_blocks)
        check_counting_input(raw, self.specs, predictor.n_features)
        if blockwise:
            return LaneResult(DensityBlocks(raw, predictor, density_block(raw.spatial_shape[1:], predictor.n_features, 1)))
        state = DensityLane(raw, predictor, parallel_blocks)
        image = DensityImage(state) if request.image else None
        return LaneResult(image, state, lambda: [state.counts(table_file)])


class DensityLane(LaneState):
    """One image's density (a float32 (y, x) plane) and its count."""

    def __init__(self, raw: Volume, predictor: DensityPredictor, threads: int):
        super().__init__()
        self.raw = raw
        self.predictor = predictor
        self.block = density_block(raw.spatial_shape[1:], predictor.n_features, threads)
        self.density: np.ndarray | None = None
        self.count: float | None = None

    def compute(self, progress, *, threads, pool, cancel) -> None:
        shape = self.raw.spatial_shape[1:]
        density = np.empty(shape, np.float32)
        counter = DensityCounter(shape)
        blocks = list(iter_blocks((0, 0), shape, self.block))
        done = 0
        progress(0, len(blocks), "density")

        def predict(start, stop):
            box = Box((0, 1), (start[0], stop[0]), (start[1], stop[1]))
            return self.predictor.density(self.raw, box)[0, :, :, 0]

        def keep(start, stop, block):
            nonlocal done
            density[start[0]:stop[0], start[1]:stop[1]] = block
            counter.add((start[0], stop[0]), (start[1], stop[1]), block)
            done += 1
            progress(done, len(blocks), "density")

        map_blocks(predict, blocks, keep, threads, pool=pool, cancel=cancel)
        self.density, self.count = density, counter.total()

    @property
    def nickname(self) -> str:
        """ilastik's name for the image in the CSV file: its dataset's nickname."""
        return self.raw.dataset.nickname if self.raw.dataset is not None else self.raw.name

    def counts(self, file: str | None) -> Table:
        self.require()
        return Table(COUNTS, {"image": np.array([self.nickname], dtype=object),
                              "count": np.array([self.count], dtype=np.float64)},
                     file=file, per_run=True, header=False)


def density_block(shape_yx, n_features: int, threads: int) -> tuple[int, int]:
    """(rows, columns) of the blocks the density is computed in: whole 128-pixel count tiles,
    as large as the feature budget allows up to 1024; an image that fits one block is split
    into row bands so that every thread gets one, while a band keeps at least one tile."""
    rows, columns = (int(n) for n in shape_yx)
    pixels = max(COUNT_TILE ** 2, BLOCK_FEATURE_BYTES // (4 * max(1, n_features)))
    edge = max(COUNT_TILE, min(1024, math.isqrt(pixels) // COUNT_TILE * COUNT_TILE))
    block = (min(rows, edge), min(columns, edge))
    if block == (rows, columns) and threads > 1:
        bands = max(1, min(threads, rows // COUNT_TILE))
        block = (-(-rows // bands), columns)
    return block


class DensityShape:
    """What the export reads of a density, the lane-wide one and the block-local one alike."""

    def describe_density(self, raw: Volume, block: tuple[int, int], n_features: int) -> None:
        self.axes = result_axes(raw)
        self.shape5 = raw.shape[:4] + (1,)
        self.shape = tuple(self.shape5["tzyxc".index(a)] for a in self.axes)
        self.dtype = np.dtype(np.float32)
        self.default_axis_order = default_output_axis_order(raw)
        self.resolution = raw.resolution
        self.drange = (0.0, 1.0)   # ilastik's meta drange of the density (not a bound)
        self.channel_names = ("Density",)
        rows, columns = block
        # One density block's features and their temporaries (4 x the stack, as in pixel
        # classification), plus the block's halo.
        self.working_bytes = 4 * 4 * (rows + 64) * (columns + 64) * (n_features + 4)

    def block_working_bytes(self) -> int:
        return self.working_bytes


class DensityImage(DensityShape, LaneWideResult):
    """The density, read from the lane's plane."""

    def __init__(self, state: DensityLane):
        super().__init__(state)
        self.describe_density(state.raw, state.block, state.predictor.n_features)
        self.block_shape = tuple(min(n, 1024) if a in "yx" else n for a, n in zip(self.axes, self.shape))

    def compute(self, start, stop) -> np.ndarray:
        self.state.require()
        region = canonical_region(self.axes, start, stop, self.shape5)
        plane = self.state.density[slice(*region["y"]), slice(*region["x"])]
        return to_result_axes(plane[None, None, :, :, None], self.axes)

    def lane_bytes(self) -> int:
        return 4 * math.prod(self.shape5[2:4])


class DensityBlocks(DensityShape, ResultSource):
    """The density computed block by block, each on its own (for --distributed; no count)."""

    def __init__(self, raw: Volume, predictor: DensityPredictor, block: tuple[int, int]):
        self.describe_density(raw, block, predictor.n_features)
        self.raw, self.predictor = raw, predictor
        self.block_shape = tuple(block[0] if a == "y" else block[1] if a == "x" else 1 for a in self.axes)

    def compute(self, start, stop) -> np.ndarray:
        region = canonical_region(self.axes, start, stop, self.shape5)
        box = Box((0, 1), region["y"], region["x"])
        return to_result_axes(self.predictor.density(self.raw, box)[None], self.axes)


def load_counting(file: h5py.File, project: ProjectFile, settings: LoadSettings) -> CountingWorkflow:
    """Read a Cell Density Counting project (its regressors are trained on first use)."""
    order = settings.structure_tensor_order
    if order is not None and order not in STRUCTURE_TENSOR_ORDERS:
        raise ProjectError(f"Unknown structure tensor order '{order}': use one of {', '.join(STRUCTURE_TENSOR_ORDERS)}.")
    _ = project.training_raw  # a project without input data is refused first
    return CountingWorkflow(read_counting(file, project, order), settings.check_stored_file)


register(WorkflowType(CountingWorkflow, ILASTIK_WORKFLOWS["Counting"], load_counting))
