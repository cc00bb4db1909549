from pixelserve.protocol.v1 import prediction_pb2 as _prediction_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BatchRequest(_message.Message):
    __slots__ = ("project", "folder", "pattern", "export_settings", "output_format", "output_filename_format", "output_internal_path", "input_axes")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    FOLDER_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    EXPORT_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FILENAME_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_INTERNAL_PATH_FIELD_NUMBER: _ClassVar[int]
    INPUT_AXES_FIELD_NUMBER: _ClassVar[int]
    project: str
    folder: str
    pattern: str
    export_settings: _prediction_pb2.ExportSettings
    output_format: str
    output_filename_format: str
    output_internal_path: str
    input_axes: str
    def __init__(self, project: _Optional[str] = ..., folder: _Optional[str] = ..., pattern: _Optional[str] = ..., export_settings: _Optional[_Union[_prediction_pb2.ExportSettings, _Mapping]] = ..., output_format: _Optional[str] = ..., output_filename_format: _Optional[str] = ..., output_internal_path: _Optional[str] = ..., input_axes: _Optional[str] = ...) -> None: ...

class BatchFiles(_message.Message):
    __slots__ = ("paths",)
    PATHS_FIELD_NUMBER: _ClassVar[int]
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, paths: _Optional[_Iterable[str]] = ...) -> None: ...

class FileOutcome(_message.Message):
    __slots__ = ("index", "path", "written", "error", "user_error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USER_ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    path: str
    written: _containers.RepeatedScalarFieldContainer[str]
    error: str
    user_error: bool
    def __init__(self, index: _Optional[int] = ..., path: _Optional[str] = ..., written: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ..., user_error: _Optional[bool] = ...) -> None: ...

class BatchSummary(_message.Message):
    __slots__ = ("files", "written", "failed", "exit_code", "run_tables")
    FILES_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    RUN_TABLES_FIELD_NUMBER: _ClassVar[int]
    files: int
    written: int
    failed: int
    exit_code: int
    run_tables: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, files: _Optional[int] = ..., written: _Optional[int] = ..., failed: _Optional[int] = ..., exit_code: _Optional[int] = ..., run_tables: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("files", "progress", "file", "summary")
    FILES_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    files: BatchFiles
    progress: _prediction_pb2.Progress
    file: FileOutcome
    summary: BatchSummary
    def __init__(self, files: _Optional[_Union[BatchFiles, _Mapping]] = ..., progress: _Optional[_Union[_prediction_pb2.Progress, _Mapping]] = ..., file: _Optional[_Union[FileOutcome, _Mapping]] = ..., summary: _Optional[_Union[BatchSummary, _Mapping]] = ...) -> None: ...
