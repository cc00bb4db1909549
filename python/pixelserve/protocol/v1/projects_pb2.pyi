from pixelserve.protocol.v1 import arrays_pb2 as _arrays_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProjectInfoRequest(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: str
    def __init__(self, project: _Optional[str] = ...) -> None: ...

class InputRole(_message.Message):
    __slots__ = ("name", "required", "training_axes", "channels", "spatial_dims", "flag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    TRAINING_AXES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SPATIAL_DIMS_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    required: bool
    training_axes: str
    channels: int
    spatial_dims: int
    flag: str
    def __init__(self, name: _Optional[str] = ..., required: _Optional[bool] = ..., training_axes: _Optional[str] = ..., channels: _Optional[int] = ..., spatial_dims: _Optional[int] = ..., flag: _Optional[str] = ...) -> None: ...

class Label(_message.Message):
    __slots__ = ("name", "color")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    name: str
    color: _arrays_pb2.Color
    def __init__(self, name: _Optional[str] = ..., color: _Optional[_Union[_arrays_pb2.Color, _Mapping]] = ...) -> None: ...

class ProjectInfo(_message.Message):
    __slots__ = ("project", "workflow", "input_roles", "export_sources", "default_export_source", "labels", "min_image_size", "title", "options", "tables", "export_defaults")
    class ExportDefaultsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    INPUT_ROLES_FIELD_NUMBER: _ClassVar[int]
    EXPORT_SOURCES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_EXPORT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MIN_IMAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    EXPORT_DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    project: str
    workflow: str
    input_roles: _containers.RepeatedCompositeFieldContainer[InputRole]
    export_sources: _containers.RepeatedScalarFieldContainer[str]
    default_export_source: str
    labels: _containers.RepeatedCompositeFieldContainer[Label]
    min_image_size: int
    title: str
    options: _containers.RepeatedCompositeFieldContainer[_arrays_pb2.WorkflowOption]
    tables: _containers.RepeatedScalarFieldContainer[str]
    export_defaults: _containers.ScalarMap[str, str]
    def __init__(self, project: _Optional[str] = ..., workflow: _Optional[str] = ..., input_roles: _Optional[_Iterable[_Union[InputRole, _Mapping]]] = ..., export_sources: _Optional[_Iterable[str]] = ..., default_export_source: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[Label, _Mapping]]] = ..., min_image_size: _Optional[int] = ..., title: _Optional[str] = ..., options: _Optional[_Iterable[_Union[_arrays_pb2.WorkflowOption, _Mapping]]] = ..., tables: _Optional[_Iterable[str]] = ..., export_defaults: _Optional[_Mapping[str, str]] = ...) -> None: ...
