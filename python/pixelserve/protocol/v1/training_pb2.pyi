from pixelserve.protocol.v1 import arrays_pb2 as _arrays_pb2
from pixelserve.protocol.v1 import prediction_pb2 as _prediction_pb2
from pixelserve.protocol.v1 import projects_pb2 as _projects_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrainingData(_message.Message):
    __slots__ = ("array", "dataset", "axes")
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    AXES_FIELD_NUMBER: _ClassVar[int]
    array: _arrays_pb2.ArrayHeader
    dataset: _prediction_pb2.DatasetRef
    axes: str
    def __init__(self, array: _Optional[_Union[_arrays_pb2.ArrayHeader, _Mapping]] = ..., dataset: _Optional[_Union[_prediction_pb2.DatasetRef, _Mapping]] = ..., axes: _Optional[str] = ...) -> None: ...

class TrainingImage(_message.Message):
    __slots__ = ("raw", "labels", "roles")
    class RolesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: TrainingData
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[TrainingData, _Mapping]] = ...) -> None: ...
    RAW_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    raw: TrainingData
    labels: TrainingData
    roles: _containers.MessageMap[str, TrainingData]
    def __init__(self, raw: _Optional[_Union[TrainingData, _Mapping]] = ..., labels: _Optional[_Union[TrainingData, _Mapping]] = ..., roles: _Optional[_Mapping[str, TrainingData]] = ...) -> None: ...

class TrainHeader(_message.Message):
    __slots__ = ("output", "project", "images", "label_names", "features", "trees", "seed", "workflow", "in_2d", "options")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    LABEL_NAMES_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    TREES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    IN_2D_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    output: str
    project: str
    images: _containers.RepeatedCompositeFieldContainer[TrainingImage]
    label_names: _containers.RepeatedScalarFieldContainer[str]
    features: str
    trees: int
    seed: int
    workflow: str
    in_2d: bool
    options: _containers.ScalarMap[str, str]
    def __init__(self, output: _Optional[str] = ..., project: _Optional[str] = ..., images: _Optional[_Iterable[_Union[TrainingImage, _Mapping]]] = ..., label_names: _Optional[_Iterable[str]] = ..., features: _Optional[str] = ..., trees: _Optional[int] = ..., seed: _Optional[int] = ..., workflow: _Optional[str] = ..., in_2d: _Optional[bool] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class TrainRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: TrainHeader
    chunk: _arrays_pb2.Chunk
    def __init__(self, header: _Optional[_Union[TrainHeader, _Mapping]] = ..., chunk: _Optional[_Union[_arrays_pb2.Chunk, _Mapping]] = ...) -> None: ...

class TrainResponse(_message.Message):
    __slots__ = ("progress", "project")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    progress: _prediction_pb2.Progress
    project: _projects_pb2.ProjectInfo
    def __init__(self, progress: _Optional[_Union[_prediction_pb2.Progress, _Mapping]] = ..., project: _Optional[_Union[_projects_pb2.ProjectInfo, _Mapping]] = ...) -> None: ...
