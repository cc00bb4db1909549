from pixelserve.protocol.v1 import arrays_pb2 as _arrays_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListDatasetsRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class DatasetInfo(_message.Message):
    __slots__ = ("internal_path", "array")
    INTERNAL_PATH_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    internal_path: str
    array: _arrays_pb2.ArrayHeader
    def __init__(self, internal_path: _Optional[str] = ..., array: _Optional[_Union[_arrays_pb2.ArrayHeader, _Mapping]] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets",)
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetInfo]
    def __init__(self, datasets: _Optional[_Iterable[_Union[DatasetInfo, _Mapping]]] = ...) -> None: ...

class ReadDatasetRequest(_message.Message):
    __slots__ = ("path", "subregion", "axes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SUBREGION_FIELD_NUMBER: _ClassVar[int]
    AXES_FIELD_NUMBER: _ClassVar[int]
    path: str
    subregion: _arrays_pb2.Subregion
    axes: str
    def __init__(self, path: _Optional[str] = ..., subregion: _Optional[_Union[_arrays_pb2.Subregion, _Mapping]] = ..., axes: _Optional[str] = ...) -> None: ...

class ReadDatasetResponse(_message.Message):
    __slots__ = ("header", "chunk", "resolution", "units")
    class ResolutionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class UnitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    header: _arrays_pb2.ArrayHeader
    chunk: _arrays_pb2.Chunk
    resolution: _containers.ScalarMap[str, float]
    units: _containers.ScalarMap[str, str]
    def __init__(self, header: _Optional[_Union[_arrays_pb2.ArrayHeader, _Mapping]] = ..., chunk: _Optional[_Union[_arrays_pb2.Chunk, _Mapping]] = ..., resolution: _Optional[_Mapping[str, float]] = ..., units: _Optional[_Mapping[str, str]] = ...) -> None: ...

class WriteDatasetHeader(_message.Message):
    __slots__ = ("path", "internal_path", "array", "compressed", "resolution")
    class ResolutionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_PATH_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    path: str
    internal_path: str
    array: _arrays_pb2.ArrayHeader
    compressed: bool
    resolution: _containers.ScalarMap[str, float]
    def __init__(self, path: _Optional[str] = ..., internal_path: _Optional[str] = ..., array: _Optional[_Union[_arrays_pb2.ArrayHeader, _Mapping]] = ..., compressed: _Optional[bool] = ..., resolution: _Optional[_Mapping[str, float]] = ...) -> None: ...

class WriteDatasetRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: WriteDatasetHeader
    chunk: _arrays_pb2.Chunk
    def __init__(self, header: _Optional[_Union[WriteDatasetHeader, _Mapping]] = ..., chunk: _Optional[_Union[_arrays_pb2.Chunk, _Mapping]] = ...) -> None: ...

class WriteDatasetResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...
