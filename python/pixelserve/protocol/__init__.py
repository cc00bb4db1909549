"""The gRPC protocol of pixelserve (package `pixelserve.v1`) in Python: the generated message
and stub modules, and arrays to and from messages. The client needs only this package, not
the server.

The `.proto` files live in `v1/` next to the modules generated from them, which are committed
(`scripts/generate_protocol.py` regenerates them; a test checks that they are current), so an
installed pixelserve needs neither the sources nor grpcio-tools.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Iterator

import numpy as np

from ..errors import UserError
from ..export.tables import Table
from .buffers import ReceiveBuffer, byte_count
from .v1 import arrays_pb2 as arrays
from .v1 import batch_pb2 as batch
from .v1 import batch_pb2_grpc as batch_grpc
from .v1 import datasets_pb2 as datasets
from .v1 import datasets_pb2_grpc as datasets_grpc
from .v1 import prediction_pb2 as prediction
from .v1 import prediction_pb2_grpc as prediction_grpc
from .v1 import projects_pb2 as projects
from .v1 import projects_pb2_grpc as projects_grpc
from .v1 import server_pb2 as server
from .v1 import server_pb2_grpc as server_grpc
from .v1 import training_pb2 as training
from .v1 import training_pb2_grpc as training_grpc

#: Chunks of at most this many bytes (the protocol promises "a few MB").
DEFAULT_CHUNK_BYTES = 4 << 20

__all__ = ["arrays", "batch", "batch_grpc", "datasets", "datasets_grpc", "prediction", "prediction_grpc", "projects", "projects_grpc",
           "server", "server_grpc", "training", "training_grpc", "ArrayReceiver", "ProtocolError", "RequestTooLarge", "array_header",
           "describe_header", "iter_chunks", "receive_arrays", "numpy_dtype", "dtype_code", "DEFAULT_CHUNK_BYTES",
           "TableReceiver", "iter_table", "option_message"]

_DTYPES = {
    arrays.DTYPE_UINT8: "uint8", arrays.DTYPE_UINT16: "uint16", arrays.DTYPE_UINT32: "uint32",
    arrays.DTYPE_UINT64: "uint64", arrays.DTYPE_INT8: "int8", arrays.DTYPE_INT16: "int16",
    arrays.DTYPE_INT32: "int32", arrays.DTYPE_INT64: "int64", arrays.DTYPE_FLOAT32: "float32",
    arrays.DTYPE_FLOAT64: "float64",
}
_DTYPE_CODES = {name: code for code, name in _DTYPES.items()}


class ProtocolError(UserError):
    """A message that breaks the protocol (INVALID_ARGUMENT)."""


class RequestTooLarge(UserError):
    """A request beyond the server's size limit (RESOURCE_EXHAUSTED)."""


def numpy_dtype(code: int) -> np.dtype:
    """The little-endian numpy dtype of a DType code."""
    if code not in _DTYPES:
        valid = ", ".join(arrays.DType.Name(c) for c in _DTYPES)
        raise ProtocolError(f"Unknown or unset dtype {code}: set ArrayHeader.dtype to one of {valid}")
    return np.dtype(_DTYPES[code]).newbyteorder("<")


def dtype_code(dtype) -> int:
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        dtype = np.dtype(np.uint8)
    if dtype.name not in _DTYPE_CODES:
        raise ProtocolError(f"Arrays of {dtype} cannot be sent: convert to one of {', '.join(_DTYPE_CODES)}")
    return _DTYPE_CODES[dtype.name]


def array_header(shape, dtype, axes: str):
    return arrays.ArrayHeader(dtype=dtype_code(dtype), shape=[int(n) for n in shape], axes=axes)


def describe_header(header, what: str, max_bytes: int | None = None) -> tuple[tuple[int, ...], np.dtype, str]:
    """(shape, dtype, axes) of an ArrayHeader, checked; ProtocolError names what is wrong."""
    dtype = numpy_dtype(header.dtype)
    shape = tuple(int(n) for n in header.shape)
    axes = header.axes.lower()
    if not shape:
        raise ProtocolError(f"{what} has no shape: set ArrayHeader.shape, e.g. [512, 512]")
    if any(n <= 0 for n in shape):
        raise ProtocolError(f"{what} has the shape {list(shape)}: every size must be at least 1")
    if len(axes) != len(shape) or set(axes) - set("tzyxc") or len(set(axes)) != len(axes):
        raise ProtocolError(f"{what} has the axes {header.axes!r} for the shape {list(shape)}: give one distinct "
                            "letter of 'tzyxc' per dimension, e.g. 'zyx'")
    nbytes = byte_count(shape, dtype)
    if max_bytes is not None and nbytes > max_bytes:
        raise RequestTooLarge(f"{what} has {nbytes} bytes, more than this server's limit of {max_bytes} "
                              "(pixelserve serve --max-request-bytes): send it in parts or raise the limit")
    return shape, dtype, axes


def iter_chunks(array: np.ndarray, max_bytes: int = DEFAULT_CHUNK_BYTES, array_index: int = 0) -> Iterator:
    """Chunk messages with the bytes of `array` (C order, little-endian), copying one chunk
    at a time."""
    array = np.asarray(array)
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and sys.byteorder == "big"):
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    # Along the first axis so that a large C-contiguous array is never copied whole.
    if array.ndim == 0:
        array = array.reshape(1)
    row_bytes = max(1, array[0].nbytes if array.shape[0] else 1)
    rows = max(1, max_bytes // row_bytes)
    if row_bytes > max_bytes:
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        for begin in range(0, flat.size, max_bytes):
            yield arrays.Chunk(array_index=array_index, data=flat[begin:begin + max_bytes].tobytes())
        return
    for begin in range(0, array.shape[0], rows):
        yield arrays.Chunk(array_index=array_index, data=np.ascontiguousarray(array[begin:begin + rows]).tobytes())


def keep_freed_memory() -> None:
    """Let glibc reuse freed chunk-sized buffers instead of unmapping them (and faulting
    them in again for the next chunk); a no-op elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: buffers below 64 MiB come from the heap
        libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD: keep up to 1 GiB of freed heap
    except (OSError, AttributeError):
        pass


def receive_arrays(messages, receivers: dict, name_of, order: str) -> None:
    """Fill `receivers` ({array_index: ArrayReceiver}) from the Chunk messages that follow a
    header, array after array in the order of their index. `name_of(index)` names an array
    in messages; `order` says how the client must send them."""
    for index in sorted(receivers):
        receiver = receivers[index]
        while not receiver.complete:
            message = next(messages, None)
            if message is None:
                receiver.result()  # raises: says how many bytes are missing
            if message.WhichOneof("kind") != "chunk":
                raise ProtocolError("Only Chunk messages may follow the header")
            if message.chunk.array_index != index:
                raise ProtocolError(f"A chunk for {name_of(message.chunk.array_index)} arrived while {name_of(index)} "
                                    f"was incomplete: {order}")
            receiver.add(message.chunk.data)
    if next(messages, None) is not None:
        raise ProtocolError("A message arrived after all the bytes the header announces: send exactly the "
                            "announced bytes, then end the request stream")


class ArrayReceiver:
    """Assembles an array from consecutive chunks into one buffer, whose memory is taken as
    the bytes arrive and given back by `release()` (protocol.buffers)."""

    def __init__(self, shape, dtype, what: str, max_chunk_bytes: int):
        self._buffer = ReceiveBuffer(byte_count(shape, dtype))
        self._bytes = self._buffer.array
        self.array = self._bytes.view(dtype).reshape(shape)
        self._filled = 0
        self.what = what
        self.max_chunk_bytes = max_chunk_bytes

    @property
    def complete(self) -> bool:
        return self._filled == self._bytes.size

    def add(self, data: bytes) -> None:
        if len(data) > self.max_chunk_bytes:
            raise ProtocolError(f"A chunk of {self.what} has {len(data)} bytes, more than the limit of "
                                f"{self.max_chunk_bytes}: send chunks of at most that size")
        end = self._filled + len(data)
        if end > self._bytes.size:
            raise ProtocolError(f"{self.what} got {end} bytes but its header announces "
                                f"{self._bytes.size} (shape {list(self.array.shape)}, {self.array.dtype}): "
                                "send exactly the bytes of the announced array")
        self._buffer.prepare(end)
        self._bytes[self._filled:end] = np.frombuffer(data, np.uint8)
        self._filled = end

    def release(self) -> None:
        """Give the buffer's memory back now (the array reads as zeros afterwards)."""
        self._buffer.release()

    def result(self) -> np.ndarray:
        if not self.complete:
            raise ProtocolError(f"{self.what} ended after {self._filled} of {self._bytes.size} bytes: "
                                "send all of the announced array's bytes")
        if self.array.dtype.byteorder == "<" and sys.byteorder == "little":
            return self.array.view(self.array.dtype.newbyteorder("="))
        return self.array.astype(self.array.dtype.newbyteorder("="))


def option_message(option):
    """The WorkflowOption message of a pixelserve.workflows.WorkflowOption."""
    return arrays.WorkflowOption(name=option.name, help=option.help, kind=option.kind,
                                 default="" if option.default is None else str(option.default),
                                 choices=list(option.choices))


def iter_table(table: Table, max_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator:
    """The ResultHeader of `table`, then the Chunk messages of its columns, column after
    column; text columns travel as int32 indices into their categories."""
    header = prediction.TableHeader(name=table.name, rows=table.rows, file=table.file or "", per_run=table.per_run,
                                    column_names_line=table.header)
    payloads = []
    for values in table.columns.values():
        if values.dtype.kind == "O":
            categories, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
            payloads.append(codes.astype(np.int32))
            header.columns.add(dtype=arrays.DTYPE_INT32, categories=[str(c) for c in categories], text=True)
        else:
            payloads.append(values)
            header.columns.add(dtype=dtype_code(values.dtype))
    for column, name in zip(header.columns, table.columns):
        column.name = name
    yield prediction.ResultHeader(table=header)
    for index, values in enumerate(payloads):
        if values.size:
            yield from iter_chunks(values, max_bytes, index)


class TableReceiver:
    """Assembles a table from its TableHeader and the chunks of its columns."""

    def __init__(self, header, max_chunk_bytes: int):
        self.header = header
        rows = int(header.rows)
        if rows < 0:
            raise ProtocolError(f"Table {header.name!r} announces {rows} rows")
        self.receivers = [ArrayReceiver((rows,), numpy_dtype(column.dtype), f"column {column.name!r} of {header.name!r}",
                                        max_chunk_bytes) for column in header.columns]
        self.column = 0

    @property
    def complete(self) -> bool:
        return all(receiver.complete for receiver in self.receivers)

    def add(self, array_index: int, data: bytes) -> None:
        while self.column < len(self.receivers) and self.receivers[self.column].complete:
            self.column += 1
        if array_index != self.column:
            raise ProtocolError(f"A chunk of column {array_index} of table {self.header.name!r} arrived while column "
                                f"{self.column} was incomplete: send the columns one after another")
        self.receivers[self.column].add(data)

    def result(self) -> Table:
        columns = {}
        for column, receiver in zip(self.header.columns, self.receivers):
            values = receiver.result()
            if column.text:
                categories = np.array(list(column.categories) or [""], dtype=object)
                if values.size and (values.min() < 0 or values.max() >= len(categories)):
                    raise ProtocolError(f"Column {column.name!r} of table {self.header.name!r} refers to text "
                                        f"{int(values.max())} of {len(column.categories)}")
                values = categories[values]
            columns[column.name] = values
        return Table(self.header.name, columns, file=self.header.file or None, per_run=self.header.per_run,
                     header=self.header.column_names_line)
