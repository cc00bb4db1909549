"""A Python client of the prediction server (`pixelserve serve`).

    from pixelserve.client import Client
    with Client("127.0.0.1:50051") as client:
        result = client.predict("MyProject.ilp", image, axes="yx")
        print(result.array.shape, result.channel_names)
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import grpc
import numpy as np

from . import protocol
from .protocol import ArrayReceiver, TableReceiver, describe_header, iter_chunks
from .results import Result

__all__ = ["Client", "Dataset", "Description", "Result", "ServerError"]


@dataclass
class Dataset:
    """A dataset the server reads for a prediction: path (with HDF5/N5 internal path) on the
    server, optional subregion ((start, stop) per dimension) and axes."""

    path: str
    subregion: tuple[tuple[int, int], ...] | None = None
    axes: str = ""
    stack_along: str = ""  # for a glob or os.pathsep list of files: the axis they stack along


@dataclass
class Description:
    """What a prediction would give (Client.describe): the image as computed (shape, dtype,
    axes; a cutout is given in these axes), the axis order its export takes by default, what
    it shows, and whether it is computed for the whole lane at once."""

    export_source: str
    lane_wide: bool
    shape: tuple[int, ...] = ()
    dtype: np.dtype | None = None
    axes: str = ""
    default_axis_order: str = ""
    channel_names: tuple[str, ...] = ()
    channel_colors: tuple[tuple[int, int, int], ...] = ()
    label_colors: tuple[tuple[int, int, int], ...] = ()
    drange: tuple[float, float] | None = None


class ServerError(Exception):
    """The server refused or failed a call; `code` is the gRPC status, the message says why."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


def _color(color) -> tuple[int, int, int]:
    return (color.red, color.green, color.blue)


class Client:
    """Calls a pixelserve server. `token` is needed when the server was started with one."""

    def __init__(self, address: str, *, token: str | None = None, timeout: float | None = None):
        self.address = address
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        limit = protocol.DEFAULT_CHUNK_BYTES + (1 << 20)
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)])
        self._max_chunk_bytes: int | None = None
        self._prediction = protocol.prediction_grpc.PredictionServiceStub(self.channel)
        self._projects = protocol.projects_grpc.ProjectServiceStub(self.channel)
        self._datasets = protocol.datasets_grpc.DatasetServiceStub(self.channel)
        self._server = protocol.server_grpc.ServerServiceStub(self.channel)
        self._training = protocol.training_grpc.TrainingServiceStub(self.channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.channel.close()

    @property
    def max_chunk_bytes(self) -> int:
        """The chunk size to send: the server's limit, asked once."""
        if self._max_chunk_bytes is None:
            self._max_chunk_bytes = min(protocol.DEFAULT_CHUNK_BYTES, int(self.server_info().max_chunk_bytes))
        return self._max_chunk_bytes

    # -- calls ---------------------------------------------------------------------------------
    def _call(self, method, request):
        try:
            return method(request, metadata=self._metadata, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServerError(error.code(), error.details()) from None

    def server_info(self):
        return self._call(self._server.GetServerInfo, protocol.server.ServerInfoRequest())

    def measure_link(self, nbytes: int = 256 << 20) -> tuple[float, float]:
        """(MB/s to the server, MB/s from the server) for `nbytes`, without disk or compute."""
        chunk = bytes(self.max_chunk_bytes)
        count = max(1, nbytes // len(chunk))
        started = time.perf_counter()
        self._call(self._server.SendProbe, (protocol.arrays.Chunk(data=chunk) for _ in range(count)))
        up = count * len(chunk) / (time.perf_counter() - started) / 1e6
        started = time.perf_counter()
        try:
            receiver = ArrayReceiver((count * len(chunk),), np.uint8, "the probe", 1 << 62)
            for message in self._server.ReceiveProbe(protocol.server.ProbeRequest(bytes=count * len(chunk)),
                                                     metadata=self._metadata, timeout=self.timeout):
                receiver.add(message.data)
        except grpc.RpcError as error:
            raise ServerError(error.code(), error.details()) from None
        down = count * len(chunk) / (time.perf_counter() - started) / 1e6
        return up, down

    def project_info(self, project: str):
        return self._call(self._projects.GetProjectInfo, protocol.projects.ProjectInfoRequest(project=project))

    def health(self, service: str = "") -> str:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        response = self._call(stub.Check, health_pb2.HealthCheckRequest(service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def predict(self, project: str, image: np.ndarray | Dataset | None = None, axes: str = "", *,
                inputs: dict | None = None, export_source: str = "", export_dtype: str = "",
                pipeline_result_drange=None, export_drange=None, cutout_subregion=None,
                output_axis_order: str = "", image_name: str = "", options: dict | None = None,
                tables: bool = False, table_only: bool = False,
                progress: Callable[[int, int, str], None] | None = None,
                cancel: threading.Event | None = None) -> Result:
        """Run `project` on `image` (an array with `axes`, or a Dataset on the server).

        `inputs` adds other roles: {role name: (array, axes) or Dataset}. The export settings
        are those of the headless command line; `options` the workflow's own
        (ProjectInfo.options), e.g. {"threshold": 0.5}. `tables` also asks for every table of
        the project (tables its options ask for come anyway): `Result.tables` maps names to
        Tables, whose `columns` is a dict of columns and `to_structured()` one structured
        array; `table_only` asks for the tables only.
        `progress(done, total, phase)` is called as the server reports; setting `cancel`
        cancels the call (ServerError with code CANCELLED).
        """
        header, arrays = self._predict_header(
            project, image, axes, inputs, export_source=export_source, export_dtype=export_dtype,
            pipeline_result_drange=pipeline_result_drange, export_drange=export_drange,
            cutout_subregion=cutout_subregion, output_axis_order=output_axis_order, image_name=image_name,
            options=options, table_only=table_only)
        header.tables = tables
        requests = self._upload(protocol.prediction.PredictRequest, header, arrays)
        with self._streaming(self._prediction.Predict, requests, cancel) as responses:
            result = self._receive_results(responses, progress)
        if result.array is None and not table_only:
            raise ServerError(grpc.StatusCode.UNKNOWN, "The server ended the call without the result")
        return result

    def describe(self, project: str, image: Dataset, *, inputs: dict | None = None, export_source: str = "",
                 options: dict | None = None, table_only: bool = False) -> "Description":
        """What `predict` would give for datasets on the server, computing nothing."""
        header, arrays = self._predict_header(project, image, "", inputs, export_source=export_source,
                                              options=options, table_only=table_only)
        if arrays:
            raise ValueError("describe takes datasets on the server, not arrays")
        header.describe = True
        with self._streaming(self._prediction.Predict, self._upload(protocol.prediction.PredictRequest, header, []),
                             None) as responses:
            message = next((r.result for r in responses if r.WhichOneof("kind") == "result"), None)
        if message is None:
            raise ServerError(grpc.StatusCode.UNKNOWN, "The server ended the call without the description")
        described = Description(export_source=message.export_source, lane_wide=message.lane_wide)
        if message.HasField("source"):
            described.shape, described.dtype, described.axes = describe_header(message.source, "the result")
            described.default_axis_order = message.default_axis_order
            described.channel_names = tuple(message.channel_names)
            described.channel_colors = tuple(_color(c) for c in message.channel_colors)
            described.label_colors = tuple(_color(c) for c in message.label_colors)
            described.drange = (message.drange.min, message.drange.max) if message.HasField("drange") else None
        return described

    def _predict_header(self, project: str, image, axes: str, inputs: dict | None, *, export_source: str = "",
                        export_dtype: str = "", pipeline_result_drange=None, export_drange=None,
                        cutout_subregion=None, output_axis_order: str = "", image_name: str = "",
                        options: dict | None = None, table_only: bool = False):
        """The PredictHeader of a call and the (input index, array) pairs to upload after it."""
        roles: list[tuple[str, object, str]] = []
        if image is not None:
            roles.append(("", image, axes))
        for role, value in (inputs or {}).items():
            data, role_axes = (value, "") if isinstance(value, Dataset) else value
            roles.append((role, data, role_axes))
        header = protocol.prediction.PredictHeader(project=project, image_name=image_name)
        settings = header.export_settings
        settings.export_source, settings.export_dtype, settings.output_axis_order = export_source, export_dtype, output_axis_order
        settings.table_only = table_only
        for name, value in (options or {}).items():
            settings.options[name] = str(value)
        for field_name, value in (("pipeline_result_drange", pipeline_result_drange), ("export_drange", export_drange)):
            if value is not None:
                getattr(settings, field_name).min, getattr(settings, field_name).max = value
        if cutout_subregion is not None:
            start, stop = cutout_subregion
            settings.cutout_subregion.start.extend(0 if v is None else int(v) for v in start)
            settings.cutout_subregion.stop.extend(0 if v is None else int(v) for v in stop)
        arrays = []
        for role, data, role_axes in roles:
            message = header.inputs.add(role=role)
            if isinstance(data, Dataset):
                message.dataset.path, message.axes = data.path, data.axes
                message.dataset.stack_along = data.stack_along
                if data.subregion is not None:
                    message.dataset.subregion.start.extend(int(a) for a, _ in data.subregion)
                    message.dataset.subregion.stop.extend(int(b) for _, b in data.subregion)
            else:
                data = np.asarray(data)
                message.array.CopyFrom(protocol.array_header(data.shape, data.dtype, role_axes))
                arrays.append((len(header.inputs) - 1, data))
        return header, arrays

    def _upload(self, message_type, header, arrays) -> Iterator:
        """The request stream: the header, then the chunks of each (array index, array)."""
        yield message_type(header=header)
        for index, data in arrays:
            for chunk in iter_chunks(data, self.max_chunk_bytes, index):
                yield message_type(chunk=chunk)

    @contextlib.contextmanager
    def _streaming(self, method, requests, cancel: threading.Event | None):
        """A streaming call that `cancel` cancels; gRPC errors become ServerError."""
        call = method(requests, metadata=self._metadata, timeout=self.timeout)
        watcher = _cancel_when_set(cancel, call)
        try:
            yield call
        except grpc.RpcError as error:
            raise ServerError(error.code(), error.details()) from None
        finally:
            if watcher is not None:
                watcher.set_done()

    @staticmethod
    def _receive_results(responses, progress=None) -> Result:
        """A prediction's answer: Progress messages go to `progress(done, total, phase)`; each
        ResultHeader starts a result (the image, or a table) whose chunks follow."""
        result = Result(array=None)
        receiver = None
        receivers = []
        for response in responses:
            kind = response.WhichOneof("kind")
            if kind == "chunk":
                if receiver is None:
                    raise ServerError(grpc.StatusCode.UNKNOWN, "The server sent a result's bytes before its header")
                if isinstance(receiver, TableReceiver):
                    receiver.add(response.chunk.array_index, response.chunk.data)
                else:
                    receiver.add(response.chunk.data)
            elif kind == "result":
                header = response.result
                if header.WhichOneof("kind") == "table":
                    receiver = TableReceiver(header.table, 1 << 62)
                    receivers.append(receiver)
                    continue
                result.export_source, result.lane_wide = header.export_source, header.lane_wide
                if header.WhichOneof("kind") != "array":
                    continue
                shape, dtype, result.axes = describe_header(header.array, "the result")
                result.shape = shape
                result.channel_names = list(header.channel_names)
                result.channel_colors = [_color(c) for c in header.channel_colors]
                result.label_colors = [_color(c) for c in header.label_colors]
                result.drange = (header.drange.min, header.drange.max) if header.HasField("drange") else None
                receiver = ArrayReceiver(shape, dtype, "the result", 1 << 62)
                receivers.append(receiver)
            elif kind == "progress" and progress is not None:
                progress(response.progress.done, response.progress.total, response.progress.phase)
        for received in receivers:
            if isinstance(received, TableReceiver):
                table = received.result()
                result.tables[table.name] = table
            else:
                result.array = received.result()
        return result

    @staticmethod
    def _receive_array(responses, header_kind: str, details, what: str, progress=None) -> Result:
        """The array of a streamed answer: the message of kind `header_kind` describes it
        (`details(message)` gives its ArrayHeader and the other Result fields), Chunk messages
        fill it, Progress messages go to `progress(done, total, phase)`."""
        result = receiver = None
        for response in responses:
            kind = response.WhichOneof("kind")
            if kind == "chunk":
                if receiver is None:
                    raise ServerError(grpc.StatusCode.UNKNOWN, f"The server sent {what}'s bytes before its header")
                receiver.add(response.chunk.data)
            elif kind == header_kind:
                array_header, fields = details(response)
                shape, dtype, axes = describe_header(array_header, what)
                receiver = ArrayReceiver(shape, dtype, what, 1 << 62)
                result = Result(array=receiver.array, axes=axes, **fields)
            elif kind == "progress" and progress is not None:
                progress(response.progress.done, response.progress.total, response.progress.phase)
        if receiver is None:
            raise ServerError(grpc.StatusCode.UNKNOWN, f"The server ended the call without {what}")
        result.array = receiver.result()
        return result

    def train(self, output: str, images=(), *, project: str = "", label_names=(), features: str = "",
              trees: int = 0, seed: int | None = None, workflow: str = "", in_2d: bool = False,
              options: dict | None = None, progress: Callable[[int, int, str], None] | None = None,
              cancel: threading.Event | None = None):
        """Train a project on the server and write it to `output` there; returns its ProjectInfo.

        `images`: (raw, labels) pairs, or (raw, labels, roles) triples; raw is (array, axes) or
        a Dataset on the server (None with `project`: keep the stored image), labels a label
        array (0 = unlabelled, 1..K) or a Dataset, or None; roles the image's other inputs by
        role name, each (array, axes) or a Dataset, e.g. {"Segmentation Image": (seg, "yx")}
        for Object Classification (workflow="object"). `options`: more `pixelserve train`
        flags by name without dashes, e.g. {"threshold": 0.4} or {"sigma": 2}. The other
        arguments are those of `pixelserve train`.
        """
        header = protocol.training.TrainHeader(output=output, project=project, label_names=list(label_names),
                                               features=features, trees=trees, workflow=workflow, in_2d=in_2d,
                                               options={name: str(value) for name, value in (options or {}).items()})
        if seed is not None:
            header.seed = seed
        arrays, role_arrays = [], []
        for index, (raw, labels, *roles) in enumerate(images):
            message = header.images.add()
            for part, value, array_index in (("raw", raw, 2 * index), ("labels", labels, 2 * index + 1)):
                if value is None:
                    continue
                target = getattr(message, part)
                if isinstance(value, Dataset):
                    target.dataset.path, target.axes = value.path, value.axes
                    continue
                data, axes = value if part == "raw" else (value, "")
                data = np.asarray(data)
                if part == "labels":
                    axes = "".join(a for a in message.raw.array.axes or message.raw.axes if a != "c")[-data.ndim:]
                target.array.CopyFrom(protocol.array_header(data.shape, data.dtype, axes))
                arrays.append((array_index, data))
            for role, value in sorted((roles[0] if roles else {}).items()):
                target = message.roles[role]
                if isinstance(value, Dataset):
                    target.dataset.path, target.axes = value.path, value.axes
                    continue
                data = np.asarray(value[0])
                target.array.CopyFrom(protocol.array_header(data.shape, data.dtype, value[1]))
                role_arrays.append(data)
        # the streamed role images are numbered after every raw image and label image
        arrays += [(2 * len(header.images) + number, data) for number, data in enumerate(role_arrays)]

        requests = self._upload(protocol.training.TrainRequest, header, arrays)
        info = None
        with self._streaming(self._training.Train, requests, cancel) as responses:
            for response in responses:
                if response.WhichOneof("kind") == "project":
                    info = response.project
                elif progress is not None:
                    progress(response.progress.done, response.progress.total, response.progress.phase)
        return info

    def list_datasets(self, path: str) -> dict[str, tuple[tuple[int, ...], np.dtype, str]]:
        """{internal path: (shape, dtype, axes)} of the datasets in a file on the server."""
        response = self._call(self._datasets.ListDatasets, protocol.datasets.ListDatasetsRequest(path=path))
        return {info.internal_path: describe_header(info.array, info.internal_path) for info in response.datasets}

    def read_dataset(self, path: str, *, subregion=None, axes: str = "") -> Result:
        """A dataset (or a box of it) from a file on the server."""
        request = protocol.datasets.ReadDatasetRequest(path=path, axes=axes)
        if subregion is not None:
            request.subregion.start.extend(int(a) for a, _ in subregion)
            request.subregion.stop.extend(int(b) for _, b in subregion)
        with self._streaming(self._datasets.ReadDataset, request, None) as responses:
            return self._receive_array(
                responses, "header", lambda response: (response.header, dict(
                    resolution=dict(response.resolution), units=dict(response.units))), path)

    def write_dataset(self, path: str, array: np.ndarray, axes: str, *, internal_path: str = "exported_data",
                      compressed: bool = True, resolution: dict | None = None) -> str:
        """Write `array` as an HDF5 dataset on the server; returns the file's path there."""
        array = np.asarray(array)
        header = protocol.datasets.WriteDatasetHeader(path=path, internal_path=internal_path, compressed=compressed,
                                                      array=protocol.array_header(array.shape, array.dtype, axes))
        for axis, size in (resolution or {}).items():
            header.resolution[axis] = float(size)

        def requests():
            yield protocol.datasets.WriteDatasetRequest(header=header)
            for chunk in iter_chunks(array, self.max_chunk_bytes):
                yield protocol.datasets.WriteDatasetRequest(chunk=chunk)

        return self._call(self._datasets.WriteDataset, requests()).path


class _CancelWatcher(threading.Thread):
    def __init__(self, event: threading.Event, call):
        super().__init__(daemon=True)
        self.event, self.call, self.done = event, call, threading.Event()

    def run(self):
        while not self.done.is_set():
            if self.event.wait(0.05):
                self.call.cancel()
                return

    def set_done(self):
        self.done.set()


def _cancel_when_set(event: threading.Event | None, call):
    if event is None:
        return None
    watcher = _CancelWatcher(event, call)
    watcher.start()
    return watcher
