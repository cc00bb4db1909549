"""Export of results exactly as ilastik's headless data export does it.

    settings = ExportSettings(output_format="tif", export_dtype="uint8", ...).validated()
    export_result(source, settings, {"dataset_dir": ..., "nickname": ..., "result_type": ...},
                  default_axis_order="yxc")

Modules: settings (flags and their checks), conversion (subregion, data range, dtype, axis
order), paths (placeholders, extension, safety checks), pipeline (blockwise export),
formats (the writer registry) and one module per file format.
"""

from .conversion import ExportPlan, normalize
from .formats import DEFAULT_FORMAT, OUTPUT_FORMATS, writer_class
from .paths import SliceIndex, format_path
from .pipeline import describe_export, export_result, export_to_array
from .result import InMemoryResult, PhaseProgress, ResultKind, ResultSource
from .settings import CLI_EXPORT_DTYPES, EXPORT_DTYPES, ExportSettings, parse_tuple_list
from .writer_base import ExportMetadata, FormatMismatch, FormatWriter

__all__ = [
    "OUTPUT_FORMATS", "DEFAULT_FORMAT", "EXPORT_DTYPES", "CLI_EXPORT_DTYPES",
    "ExportSettings", "parse_tuple_list", "ResultSource", "ResultKind", "InMemoryResult", "PhaseProgress",
    "format_path", "SliceIndex", "export_result", "export_to_array", "describe_export",
    "ExportPlan", "normalize", "writer_class", "FormatWriter", "FormatMismatch", "ExportMetadata",
]
