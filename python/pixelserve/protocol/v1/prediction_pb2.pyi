from pixelserve.protocol.v1 import arrays_pb2 as _arrays_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: PredictHeader
    chunk: _arrays_pb2.Chunk
    def __init__(self, header: _Optional[_Union[PredictHeader, _Mapping]] = ..., chunk: _Optional[_Union[_arrays_pb2.Chunk, _Mapping]] = ...) -> None: ...

class ExportSettings(_message.Message):
    __slots__ = ("export_source", "export_dtype", "pipeline_result_drange", "export_drange", "cutout_subregion", "output_axis_order", "options", "table_only")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EXPORT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    EXPORT_DTYPE_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_RESULT_DRANGE_FIELD_NUMBER: _ClassVar[int]
    EXPORT_DRANGE_FIELD_NUMBER: _ClassVar[int]
    CUTOUT_SUBREGION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_AXIS_ORDER_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TABLE_ONLY_FIELD_NUMBER: _ClassVar[int]
    export_source: str
    export_dtype: str
    pipeline_result_drange: _arrays_pb2.Range
    export_drange: _arrays_pb2.Range
    cutout_subregion: _arrays_pb2.Subregion
    output_axis_order: str
    options: _containers.ScalarMap[str, str]
    table_only: bool
    def __init__(self, export_source: _Optional[str] = ..., export_dtype: _Optional[str] = ..., pipeline_result_drange: _Optional[_Union[_arrays_pb2.Range, _Mapping]] = ..., export_drange: _Optional[_Union[_arrays_pb2.Range, _Mapping]] = ..., cutout_subregion: _Optional[_Union[_arrays_pb2.Subregion, _Mapping]] = ..., output_axis_order: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ..., table_only: _Optional[bool] = ...) -> None: ...

class DatasetRef(_message.Message):
    __slots__ = ("path", "subregion", "stack_along")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SUBREGION_FIELD_NUMBER: _ClassVar[int]
    STACK_ALONG_FIELD_NUMBER: _ClassVar[int]
    path: str
    subregion: _arrays_pb2.Subregion
    stack_along: str
    def __init__(self, path: _Optional[str] = ..., subregion: _Optional[_Union[_arrays_pb2.Subregion, _Mapping]] = ..., stack_along: _Optional[str] = ...) -> None: ...

class RoleInput(_message.Message):
    __slots__ = ("role", "array", "dataset", "axes")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    AXES_FIELD_NUMBER: _ClassVar[int]
    role: str
    array: _arrays_pb2.ArrayHeader
    dataset: DatasetRef
    axes: str
    def __init__(self, role: _Optional[str] = ..., array: _Optional[_Union[_arrays_pb2.ArrayHeader, _Mapping]] = ..., dataset: _Optional[_Union[DatasetRef, _Mapping]] = ..., axes: _Optional[str] = ...) -> None: ...

class PredictHeader(_message.Message):
    __slots__ = ("project", "inputs", "export_settings", "image_name", "tables", "describe")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    EXPORT_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    DESCRIBE_FIELD_NUMBER: _ClassVar[int]
    project: str
    inputs: _containers.RepeatedCompositeFieldContainer[RoleInput]
    export_settings: ExportSettings
    image_name: str
    tables: bool
    describe: bool
    def __init__(self, project: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[RoleInput, _Mapping]]] = ..., export_settings: _Optional[_Union[ExportSettings, _Mapping]] = ..., image_name: _Optional[str] = ..., tables: _Optional[bool] = ..., describe: _Optional[bool] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("done", "total", "phase")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    phase: str
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ..., phase: _Optional[str] = ...) -> None: ...

class ResultHeader(_message.Message):
    __slots__ = ("array", "table", "export_source", "channel_names", "channel_colors", "label_colors", "drange", "lane_wide", "source", "default_axis_order")
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    EXPORT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_NAMES_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_COLORS_FIELD_NUMBER: _ClassVar[int]
    LABEL_COLORS_FIELD_NUMBER: _ClassVar[int]
    DRANGE_FIELD_NUMBER: _ClassVar[int]
    LANE_WIDE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_AXIS_ORDER_FIELD_NUMBER: _ClassVar[int]
    array: _arrays_pb2.ArrayHeader
    table: TableHeader
    export_source: str
    channel_names: _containers.RepeatedScalarFieldContainer[str]
    channel_colors: _containers.RepeatedCompositeFieldContainer[_arrays_pb2.Color]
    label_colors: _containers.RepeatedCompositeFieldContainer[_arrays_pb2.Color]
    drange: _arrays_pb2.Range
    lane_wide: bool
    source: _arrays_pb2.ArrayHeader
    default_axis_order: str
    def __init__(self, array: _Optional[_Union[_arrays_pb2.ArrayHeader, _Mapping]] = ..., table: _Optional[_Union[TableHeader, _Mapping]] = ..., export_source: _Optional[str] = ..., channel_names: _Optional[_Iterable[str]] = ..., channel_colors: _Optional[_Iterable[_Union[_arrays_pb2.Color, _Mapping]]] = ..., label_colors: _Optional[_Iterable[_Union[_arrays_pb2.Color, _Mapping]]] = ..., drange: _Optional[_Union[_arrays_pb2.Range, _Mapping]] = ..., lane_wide: _Optional[bool] = ..., source: _Optional[_Union[_arrays_pb2.ArrayHeader, _Mapping]] = ..., default_axis_order: _Optional[str] = ...) -> None: ...

class TableHeader(_message.Message):
    __slots__ = ("name", "rows", "columns", "file", "per_run", "column_names_line")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    PER_RUN_FIELD_NUMBER: _ClassVar[int]
    COLUMN_NAMES_LINE_FIELD_NUMBER: _ClassVar[int]
    name: str
    rows: int
    columns: _containers.RepeatedCompositeFieldContainer[TableColumn]
    file: str
    per_run: bool
    column_names_line: bool
    def __init__(self, name: _Optional[str] = ..., rows: _Optional[int] = ..., columns: _Optional[_Iterable[_Union[TableColumn, _Mapping]]] = ..., file: _Optional[str] = ..., per_run: _Optional[bool] = ..., column_names_line: _Optional[bool] = ...) -> None: ...

class TableColumn(_message.Message):
    __slots__ = ("name", "dtype", "categories", "text")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    name: str
    dtype: _arrays_pb2.DType
    categories: _containers.RepeatedScalarFieldContainer[str]
    text: bool
    def __init__(self, name: _Optional[str] = ..., dtype: _Optional[_Union[_arrays_pb2.DType, str]] = ..., categories: _Optional[_Iterable[str]] = ..., text: _Optional[bool] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("progress", "result", "chunk")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: ResultHeader
    chunk: _arrays_pb2.Chunk
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[ResultHeader, _Mapping]] = ..., chunk: _Optional[_Union[_arrays_pb2.Chunk, _Mapping]] = ...) -> None: ...
