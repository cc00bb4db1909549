from pixelserve.protocol.v1 import arrays_pb2 as _arrays_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProbeRequest(_message.Message):
    __slots__ = ("bytes",)
    BYTES_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    def __init__(self, bytes: _Optional[int] = ...) -> None: ...

class ProbeSummary(_message.Message):
    __slots__ = ("bytes", "seconds")
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    seconds: float
    def __init__(self, bytes: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class ServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "max_chunk_bytes", "max_request_bytes", "workflows", "export_dtypes", "workflow_types", "max_streams", "idle_timeout_seconds", "max_inflight_bytes")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    EXPORT_DTYPES_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_TYPES_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_INFLIGHT_BYTES_FIELD_NUMBER: _ClassVar[int]
    version: str
    max_chunk_bytes: int
    max_request_bytes: int
    workflows: _containers.RepeatedScalarFieldContainer[str]
    export_dtypes: _containers.RepeatedScalarFieldContainer[str]
    workflow_types: _containers.RepeatedCompositeFieldContainer[WorkflowType]
    max_streams: int
    idle_timeout_seconds: float
    max_inflight_bytes: int
    def __init__(self, version: _Optional[str] = ..., max_chunk_bytes: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., workflows: _Optional[_Iterable[str]] = ..., export_dtypes: _Optional[_Iterable[str]] = ..., workflow_types: _Optional[_Iterable[_Union[WorkflowType, _Mapping]]] = ..., max_streams: _Optional[int] = ..., idle_timeout_seconds: _Optional[float] = ..., max_inflight_bytes: _Optional[int] = ...) -> None: ...

class WorkflowType(_message.Message):
    __slots__ = ("title", "project_names", "options")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_NAMES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    title: str
    project_names: _containers.RepeatedScalarFieldContainer[str]
    options: _containers.RepeatedCompositeFieldContainer[_arrays_pb2.WorkflowOption]
    def __init__(self, title: _Optional[str] = ..., project_names: _Optional[_Iterable[str]] = ..., options: _Optional[_Iterable[_Union[_arrays_pb2.WorkflowOption, _Mapping]]] = ...) -> None: ...
