"""PredictionService: pixels in, progress and the exported result out."""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass

from .. import protocol
from ..export import ExportSettings, ResultKind, describe_export, export_to_array
from ..protocol import ArrayReceiver, ProtocolError, describe_header, iter_table, receive_arrays
from ..workflows import LaneRequest, Volume, parse_options
from .jobs import Cancelled, Job

logger = logging.getLogger(__name__)


def export_settings(message) -> ExportSettings:
    """The ExportSettings of a protocol message (unset fields: ilastik's defaults)."""
    return ExportSettings(**export_choices(message)).validated()


def export_choices(message) -> dict:
    """The settings an ExportSettings message sets, keyed like the headless flags."""
    chosen = {}
    if message.export_dtype:
        chosen["export_dtype"] = message.export_dtype
    if message.HasField("pipeline_result_drange"):
        chosen["pipeline_result_drange"] = (message.pipeline_result_drange.min, message.pipeline_result_drange.max)
    if message.HasField("export_drange"):
        chosen["export_drange"] = (message.export_drange.min, message.export_drange.max)
    if message.HasField("cutout_subregion"):
        region = message.cutout_subregion
        chosen["cutout_subregion"] = (tuple(region.start) or None, tuple(n or None for n in region.stop) or None)
    if message.output_axis_order:
        chosen["output_axis_order"] = message.output_axis_order
    return chosen


def region_of(subregion, shape, what: str) -> tuple[tuple[int, int], ...]:
    """(start, stop) per dimension of a Subregion message within `shape`."""
    start = list(subregion.start) or [0] * len(shape)
    stop = [n or size for n, size in zip(subregion.stop, shape)] if subregion.stop else list(shape)
    if len(start) != len(shape) or len(stop) != len(shape):
        raise ProtocolError(f"The subregion of {what} has {len(start)} start and {len(stop)} stop values for "
                            f"{len(shape)} dimensions {list(shape)}: give one per dimension")
    for begin, end, size in zip(start, stop, shape):
        if not 0 <= begin < end <= size:
            raise ProtocolError(f"The subregion [{start}, {stop}] of {what} does not fit inside {list(shape)}: "
                                "each start must be below its stop, inside the data")
    return tuple(zip(start, stop))


@dataclass
class _Input:
    role: str
    axes: str
    receiver: ArrayReceiver | None = None  # arrays streamed by the client
    volume: Volume | None = None           # datasets read on the server


class PredictionServicer(protocol.prediction_grpc.PredictionServiceServicer):
    def __init__(self, server):
        self.server = server  # the Server: settings, project cache, path policy, job runner

    def Predict(self, requests, context):
        limits = self.server.limits
        first = next(requests, None)
        if first is None or first.WhichOneof("kind") != "header":
            raise ProtocolError("The first message of Predict must be a PredictHeader: send the header, then the chunks")
        header = first.header
        yield protocol.prediction.PredictResponse(progress=progress_of(0, 0, "loading project"))
        project = self.server.load_project(header.project)
        workflow = project.workflow
        given = header.export_settings
        settings = export_settings(given)
        if given.table_only and not header.tables:
            raise ProtocolError("ExportSettings.table_only asks for no image, but PredictHeader.tables is not set: "
                                "set tables to receive the tables")
        request = LaneRequest(given.export_source or None, image=not given.table_only, tables=header.tables,
                              options=parse_options(workflow.options, dict(given.options)))
        inputs = self._open_inputs(header, workflow, context)
        receive_arrays(requests, {index: item.receiver for index, item in enumerate(inputs) if item.receiver},
                       name_of=lambda index: f"input {index}",
                       order="send the array inputs one after another, in the order of PredictHeader.inputs")
        volumes = {item.role: item.volume or Volume.from_array(item.receiver.result(), item.axes,
                                                               name=_array_name(header, workflow, item.role))
                   for item in inputs}

        lane = workflow.open_lane(volumes, request, parallel_blocks=self.server.jobs.threads)
        export_source = workflow.resolve_export_source(request.export_source)
        lane.check_gives_results(export_source)
        if header.describe:
            yield protocol.prediction.PredictResponse(result=_description(lane, settings, export_source))
            return
        job = Job(f"{header.image_name or header.project}")
        context.add_callback(job.cancel)
        progress: queue.Queue = queue.Queue()

        def run():
            options = self.server.jobs.block_options(job)
            lane.prepare(lambda done, total, phase: progress.put(progress_of(done, total, phase)), **options)
            image = None
            if lane.image is not None:
                image = export_to_array(lane.image, settings,
                                        progress=lambda done, total: progress.put(progress_of(done, total, "computing")),
                                        **options)
            # per-run tables (one row per image) go back too: a headless run logs them
            return image, [table for table in lane.tables()
                           if header.tables or table.file is not None or table.per_run]

        try:
            image, tables = yield from self.server.jobs.follow(
                job, run, progress, lambda message: protocol.prediction.PredictResponse(progress=message))
        except Cancelled:
            logger.info("%s: cancelled by the client", job.name)
            return
        lane_wide = lane.kind is ResultKind.LANE_WIDE
        for response in _result_messages(image, export_source, lane_wide, tables, limits.max_chunk_bytes):
            if not context.is_active():
                return
            yield response

    def _open_inputs(self, header, workflow, context) -> list[_Input]:
        roles = {role.name.lower(): role.name for role in workflow.input_roles}
        if not header.inputs:
            raise ProtocolError("The PredictHeader has no inputs: add the raw data as an array or a dataset path")
        inputs: list[_Input] = []
        for index, given in enumerate(header.inputs):
            role = roles.get(given.role.lower()) if given.role else workflow.input_roles[0].name
            if role is None:
                raise ProtocolError(f"Input {index} names the role {given.role!r}, which "
                                    f"{workflow.workflow_name} does not have: use one of {', '.join(map(repr, roles.values()))}")
            if any(item.role == role for item in inputs):
                raise ProtocolError(f"The role {role!r} is given twice: give each role once")
            kind = given.WhichOneof("data")
            if kind == "array":
                shape, dtype, axes = describe_header(given.array, f"Input {index} ({role})", self.server.limits.max_request_bytes)
                inputs.append(_Input(role, axes, receiver=self.server.inflight.receiver(
                    context, shape, dtype, f"input {index} ({role})", self.server.limits.max_chunk_bytes)))
            elif kind == "dataset":
                inputs.append(_Input(role, given.axes, volume=self._dataset_volume(given, role, workflow)))
            else:
                raise ProtocolError(f"Input {index} ({role}) has neither an array header nor a dataset path: set one")
        total = sum(item.receiver.array.nbytes for item in inputs if item.receiver)
        if total > self.server.limits.max_request_bytes:
            raise protocol.RequestTooLarge(f"The inputs have {total} bytes, more than this server's limit of "
                                           f"{self.server.limits.max_request_bytes}: send smaller images or raise --max-request-bytes")
        return inputs

    def _dataset_volume(self, given, role: str, workflow) -> Volume:
        dataset = self.server.open_dataset(given.dataset.path, stack_along=given.dataset.stack_along)
        region = region_of(given.dataset.subregion, dataset.shape, given.dataset.path) if given.dataset.HasField("subregion") else None
        # without axes: the workflow's rule, the same as the headless mode's without --input_axes
        return workflow.input_volume(dataset, given.axes.lower() or None, role, name=given.dataset.path, region=region)


def _array_name(header, workflow, role: str) -> str:
    """How messages and tables (e.g. counting's image column) name a streamed input: the raw
    data by the client's PredictHeader.image_name (Fiji's image title), else by its role."""
    if header.image_name and role == workflow.input_roles[0].name:
        return header.image_name
    return f"{role} array"


def _result_messages(image, export_source: str, lane_wide: bool, tables, max_chunk_bytes: int):
    """The PredictResponses of the results: the image (if any), then each table."""
    if image is not None:
        result, axes, metadata = image
        yield protocol.prediction.PredictResponse(
            result=_result_header(result.shape, result.dtype, axes, metadata, export_source, lane_wide))
        for chunk in protocol.iter_chunks(result, max_chunk_bytes):
            yield protocol.prediction.PredictResponse(chunk=chunk)
    for table in tables:
        for message in iter_table(table, max_chunk_bytes):
            if isinstance(message, protocol.arrays.Chunk):
                yield protocol.prediction.PredictResponse(chunk=message)
            else:
                yield protocol.prediction.PredictResponse(result=message)


def progress_of(done: int, total: int, phase: str):
    """A Progress message (PredictResponse and TrainResponse both carry them)."""
    return protocol.prediction.Progress(done=done, total=total, phase=phase)


def _color(rgb):
    red, green, blue = (int(v) for v in rgb)
    return protocol.arrays.Color(red=red, green=green, blue=blue)


def _description(lane, settings, export_source: str):
    """The ResultHeader of what `lane` would export; an empty one for a lane of tables only."""
    if lane.image is None:
        return protocol.prediction.ResultHeader(export_source=export_source, lane_wide=True)
    image = lane.image
    shape, dtype, axes, metadata = describe_export(image, settings)
    header = _result_header(shape, dtype, axes, metadata, export_source, lane.kind is ResultKind.LANE_WIDE)
    header.source.CopyFrom(protocol.array_header(image.shape, image.dtype, image.axes))
    header.default_axis_order = image.default_axis_order
    return header


def _result_header(shape, dtype, axes: str, metadata, export_source: str, lane_wide: bool):
    header = protocol.prediction.ResultHeader(
        array=protocol.array_header(shape, dtype, axes), export_source=export_source, lane_wide=lane_wide,
        channel_names=list(metadata.channel_names),
        channel_colors=[_color(c) for c in metadata.channel_colors],
        label_colors=[_color(c) for c in metadata.label_colors],
    )
    if metadata.drange is not None:
        header.drange.min, header.drange.max = (float(v) for v in metadata.drange)
    return header
