"""One lane's run: what a front door asks of it, and what it gets back.

Every front door (command line, server, Python API) runs a lane the same way:
`workflow.open_lane(inputs, request)` reads only headers and checks the inputs; `prepare()`
computes what the lane needs as a whole (nothing for block-local results; objects, graphs
or tracks for lane-wide ones), with progress and cancel; then the export pipeline computes
the image block by block, and `tables()` gives the tables. A lane may also write files of
formats of its own (tracking's export plugins): a headless run calls `write_files`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field

from ..errors import UserError
from ..export.result import PhaseProgress, ResultKind, ResultSource
from ..export.tables import Table


@dataclass(frozen=True)
class LaneRequest:
    """What a front door asks of one lane.

    `export_source`: the image to compute (None: the workflow's default); `image` False asks
    for the tables only (ilastik's --table_only). `tables`: compute every table the workflow
    offers, also those that no option names a file for (the server and the Python API return
    them to the caller). `options`: the workflow's own options, parsed (options.parse_options).
    `block_local`: the caller computes the image's blocks apart, each on its own (a distributed
    run): a workflow that can give a block-local image instead of a lane-wide one does so.
    """

    export_source: str | None = None
    image: bool = True
    tables: bool = False
    options: Mapping[str, object] = field(default_factory=dict)
    block_local: bool = False


class LaneState(ABC):
    """What lane-wide results of one lane share (objects, a graph, tracks): computed once, by
    the first `prepare`, then read by the image's blocks and the tables."""

    def __init__(self):
        self._lock = threading.Lock()
        self._ready = False

    def prepare(self, progress: PhaseProgress | None = None, *, threads: int = 1, pool: Executor | None = None,
                cancel: threading.Event | None = None) -> None:
        with self._lock:
            if not self._ready:
                self.compute(progress or _no_progress, threads=threads, pool=pool, cancel=cancel)
                self._ready = True

    @abstractmethod
    def compute(self, progress: PhaseProgress, *, threads: int, pool: Executor | None,
                cancel: threading.Event | None) -> None:
        """Compute the state (see prepare). Check `cancel` (blocks.Cancelled) between steps."""

    def require(self) -> None:
        if not self._ready:
            raise RuntimeError(f"{type(self).__name__}.prepare() must run before its results are read")


def _no_progress(done: int, total: int, phase: str) -> None:
    pass


class LaneWideResult(ResultSource):
    """An image read from a lane's `LaneState`."""

    kind = ResultKind.LANE_WIDE

    def __init__(self, state: LaneState):
        self.state = state

    def prepare(self, progress=None, *, threads=1, pool=None, cancel=None) -> None:
        self.state.prepare(progress, threads=threads, pool=pool, cancel=cancel)


#: write_files(name_format, placeholders) -> the paths written: a lane's files of formats of its
#: own, named after --output_filename_format (`name_format`) with the run's placeholders
#: ({dataset_dir}, {nickname}, {result_type}, ...), written atomically, after prepare.
FileWriter = Callable[[str, Mapping[str, object]], list[str]]


@dataclass
class LaneResult:
    """One lane's image (None when only tables were asked for, or when the lane writes files of
    its own instead), tables, and files of its own (`FileWriter`; only a headless run, which
    writes files, asks for them: the server and the Python API give the image and tables)."""

    image: ResultSource | None
    state: LaneState | None = None
    make_tables: Callable[[], list[Table]] = list
    write_files: FileWriter | None = None
    #: {file name (placeholders not filled in): the option that names it} of the tables this
    #: lane writes to a file of its own, known before anything is computed, so that a run can
    #: refuse two lanes that would write one file (per-run tables, one file for all, are not here).
    table_files: Mapping[str, str] = field(default_factory=dict)

    def prepare(self, progress: PhaseProgress | None = None, *, threads: int = 1, pool: Executor | None = None,
                cancel: threading.Event | None = None) -> None:
        if self.state is not None:
            self.state.prepare(progress, threads=threads, pool=pool, cancel=cancel)

    @property
    def kind(self) -> ResultKind:
        if self.image is not None:
            return self.image.kind
        return ResultKind.LANE_WIDE if self.state is not None else ResultKind.BLOCK_LOCAL

    def check_gives_results(self, export_source: str) -> None:
        """For front doors that return results rather than write files (the server, the Python
        API): refuse a lane that writes files of its own instead of an image."""
        if self.write_files is not None:
            raise UserError(f"'{export_source}' writes files of formats of its own, which only a headless run on "
                            "this machine writes. Fix: run 'pixelserve --headless' without --server, or ask for "
                            "an image source, or for the tables only.")

    def tables(self) -> list[Table]:
        """The lane's tables (after prepare, and after the image's export where a table sums
        what the blocks computed)."""
        return self.make_tables()
