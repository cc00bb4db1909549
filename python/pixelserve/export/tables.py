"""Tables next to images: per-object features, counts, tracks.

A `Table` is ordered named columns of equal length (numeric numpy arrays or strings). The
table writers, like the image writers of `formats.py`, are a registry keyed by the file's
extension: CSV as ilastik writes it (`ilastik/utility/exportFile.py`: a header line, then
each row's values joined by commas as `str(value)` printed them under numpy 1.x, so a
float32 prints in its shortest form, e.g. `0.59` or `2370307.0`) and the HDF5 table (one
structured dataset). Writing is
atomic like every export: a temporary name, renamed when complete.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import h5py
import numpy as np

from pixelserve.errors import UserError

from .chunk_assembly import remove_path
from .paths import format_path


@dataclass(frozen=True)
class Table:
    """Named columns of equal length, and where a headless run writes them.

    `file`: a path template with the output-name placeholders ({dataset_dir}, {nickname}, ...),
    set by the workflow from its own flags; None: the table only goes back to callers (the
    server, the Python API). `per_run`: the rows of every lane of a run go into one file,
    written when the run ends (e.g. one count per image). `header`: CSV files start with the
    column names. `datasets`: more datasets of an HDF5 table file, path -> (array, attributes)
    (ilastik's object table holds each object's image crops there); CSV files and callers get
    the columns only.
    """

    name: str
    columns: Mapping[str, np.ndarray]
    file: str | None = None
    per_run: bool = False
    header: bool = True
    internal_path: str = "table"
    datasets: Mapping[str, tuple[np.ndarray, Mapping[str, str]]] = field(default_factory=dict)

    def __post_init__(self):
        columns = {str(name): _column(values) for name, values in self.columns.items()}
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"The columns of table {self.name!r} have different lengths {sorted(lengths)}")
        object.__setattr__(self, "columns", columns)

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def to_structured(self) -> np.ndarray:
        """One structured array: numbers keep their dtype, text becomes unicode ('U')."""
        dtype = [(name, values.dtype if values.dtype.kind != "O" else _text_dtype(values))
                 for name, values in self.columns.items()]
        out = np.empty(self.rows, dtype=dtype)
        for name, values in self.columns.items():
            out[name] = values
        return out

    def row_text(self, index: int) -> str:
        """One row for a log line: its text values, then each number with its column's name,
        e.g. '2d3c: count 29.87363624572754' (numbers as the CSV file prints them)."""
        names = [str(v[index]) for v in self.columns.values() if v.dtype.kind == "O"]
        values = [f"{name} {_float_text(v[index]) if v.dtype.kind == 'f' else v[index]}"
                  for name, v in self.columns.items() if v.dtype.kind != "O"]
        return ": ".join(part for part in (" ".join(names), ", ".join(values)) if part)

    @classmethod
    def concatenated(cls, tables: list["Table"]) -> "Table":
        """The rows of `tables` (same name and columns) one after another."""
        first = tables[0]
        columns = {name: np.concatenate([t.columns[name] for t in tables]) for name in first.columns}
        return cls(first.name, columns, file=first.file, per_run=first.per_run, header=first.header,
                   internal_path=first.internal_path)


def _column(values) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"A table column must be one-dimensional, not of shape {array.shape}")
    if array.dtype.kind in "US":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in array.tolist()], dtype=object)
    return array


def _text_dtype(values: np.ndarray) -> np.dtype:
    return np.dtype(f"U{max([len(v) for v in values] + [1])}")


def _write_csv(table: Table, path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        if table.header:
            writer.writerow(table.columns)
        columns = [values if values.dtype.kind == "O" else
                   [_float_text(v) for v in values] if values.dtype.kind == "f" else [str(v) for v in values]
                   for values in table.columns.values()]
        writer.writerows(zip(*columns))


def _float_text(value) -> str:
    """A float as numpy 1.x's str() printed it (which ilastik's CSV files hold): the shortest
    digits that read back to the same value, positional from 1e-4 to 1e16, else scientific
    with at least two exponent digits (numpy 2 switches to scientific from 1e6)."""
    magnitude = abs(float(value))
    if magnitude == 0 or 1e-4 <= magnitude < 1e16 or not np.isfinite(magnitude):
        return np.format_float_positional(value, unique=True, trim="0")
    return np.format_float_scientific(value, unique=True, trim="-", exp_digits=2)


def _write_hdf5(table: Table, path: str) -> None:
    dtype = [(name, _hdf5_dtype(values)) for name, values in table.columns.items()]
    data = np.empty(table.rows, dtype=dtype)
    for name, values in table.columns.items():
        data[name] = [v.encode() for v in values] if values.dtype.kind == "O" else values
    with h5py.File(path, "w") as file:
        file.create_dataset(table.internal_path, data=data)
        for name, (array, attributes) in table.datasets.items():
            dataset = file.create_dataset(name, data=array)
            dataset.attrs.update(attributes)


def _hdf5_dtype(values: np.ndarray) -> np.dtype:
    if values.dtype.kind == "O":  # text as fixed-width bytes, as ilastik's HDF5 tables hold it
        return np.dtype(f"S{max([len(v.encode()) for v in values] + [1])}")
    return values.dtype


#: Table file formats by extension.
TABLE_WRITERS: dict[str, Callable[[Table, str], None]] = {".csv": _write_csv, ".h5": _write_hdf5, ".hdf5": _write_hdf5}


def table_path(file: str, placeholders: Mapping[str, object]) -> str:
    """The absolute path of a table's `file` name with its placeholders filled in."""
    return os.path.abspath(os.path.expanduser(format_path(file, dict(placeholders))))


def write_table(table: Table, placeholders: Mapping[str, object], *, before_writing=None) -> str:
    """Write `table` to its `file` (placeholders filled in); returns the path written.
    `before_writing([temp_path])` hears the temporary file's name before anything is created."""
    if table.file is None:
        raise ValueError(f"Table {table.name!r} has no file to be written to")
    path = table_path(table.file, placeholders)
    extension = os.path.splitext(path)[1].lower()
    writer = TABLE_WRITERS.get(extension)
    if writer is None:
        raise UserError(f"The table file {path} has the extension {extension or '(none)'!r}, which names no table "
                        f"format. Fix: end it with one of {', '.join(TABLE_WRITERS)}.")
    folder = os.path.dirname(path)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"The table file {path} would go below {folder}, which is a file. Fix: choose another path.")
    temp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.part")
    if before_writing is not None:
        before_writing([temp])
    os.makedirs(folder, exist_ok=True)
    try:
        writer(table, temp)
        os.replace(temp, path)
    except BaseException:
        remove_path(temp)
        raise
    return path
