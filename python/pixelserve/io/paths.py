"""ilastik's path conventions: path lists, internal paths in containers, and nicknames.

Facts from ilastik's lazyflow/utility/pathHelpers.py (PathComponents, splitPath) and
ilastik/applets/dataSelection/opDataSelection.py (DatasetInfo.create_nickname, expand_path).
"""

from __future__ import annotations

import os
import posixpath
import re

# Only files with these extensions may carry an internal path (ilastik's PathComponents).
CONTAINER_EXTENSIONS = (".ilp", ".h5", ".hdf5", ".npz", ".n5")
HDF5_EXTENSIONS = (".ilp", ".h5", ".hdf5")
# ilastik reaches zarr only as OME-Zarr URLs; pixelserve also accepts dir.zarr/internal/path.
ZARR_EXTENSIONS = (".zarr",)

_GLOB_CHARS = re.compile(r"[*?\[]")


def _to_forward_slashes(path: str) -> str:
    # Like ilastik, always: projects saved on Windows store paths such as 'inputdata\\2d3c.h5\\data'.
    return path.replace("\\", "/")


def _split_at_extension(spec: str, extensions: tuple[str, ...]) -> tuple[str, str | None, str | None]:
    """Split after the last extension occurrence that ends a path component; (external, internal, ext)."""
    path = _to_forward_slashes(spec)
    lowered = path.lower()
    best_end, best_ext = -1, None
    for ext in extensions:
        index = lowered.find(ext)
        while index >= 0:
            end = index + len(ext)
            if (end == len(path) or path[end] == "/") and end > best_end:
                best_end, best_ext = end, path[index:end]
            index = lowered.find(ext, index + 1)
    if best_end < 0:
        return path, None, None
    internal = path[best_end:].strip("/")
    return path[:best_end], internal or None, best_ext


def split_internal_path(spec: str) -> tuple[str, str | None]:
    """Split 'file.h5/group/data' into ('file.h5', 'group/data'); ('img.png', None) otherwise.

    ilastik splits at the last occurrence of one of .ilp/.h5/.hdf5/.npz/.n5 (pure substring
    search, case-sensitive). pixelserve only counts an occurrence that ends a path component
    (followed by '/' or the end) and ignores case, so 'runs.h5_old/img.png' or 'a.h5.png' stay
    plain files instead of failing; every path ilastik splits correctly splits the same way.
    The internal path is returned without leading '/', None when empty.
    """
    external, internal, _ = _split_at_extension(spec, CONTAINER_EXTENSIONS)
    return external, internal


def split_container_path(spec: str) -> tuple[str, str | None, str | None]:
    """Like split_internal_path but also knows zarr directories; returns (external, internal, ext)."""
    external, internal, ext = _split_at_extension(spec, CONTAINER_EXTENSIONS)
    if ext is None:
        external, internal, ext = _split_at_extension(spec, ZARR_EXTENSIONS)
    return external, internal, ext


def split_path_list(spec: str) -> list[str]:
    """Split an os.pathsep-separated list of paths, keeping URLs like http://host:8000/x whole.

    ilastik's splitPath never splits before '//' or before a port number. A digit right after
    the separator is only treated as a port when the text before it is a URL, so that
    'a.png:1.png' still means two files.
    """
    pieces = spec.split(os.pathsep)
    parts: list[str] = []
    for piece in pieces:
        if parts and (piece.startswith("//") or ("://" in parts[-1] and re.match(r"\d{1,5}\b", piece))):
            parts[-1] += os.pathsep + piece
        else:
            parts.append(piece)
    return [part.strip() for part in parts if part.strip()]


def has_glob(path: str) -> bool:
    return bool(_GLOB_CHARS.search(path))


def extension_of(path: str) -> str:
    """ilastik's notion of a path's extension: the container extension if any, else the file suffix."""
    external, _, ext = split_container_path(path)
    return ext if ext is not None else os.path.splitext(external)[1]


def create_nickname(expanded_paths: list[str]) -> str:
    """ilastik's default dataset nickname for a list of expanded (absolute) paths.

    Rule (DatasetInfo.create_nickname): the common string prefix of the external paths with
    their extension removed, reduced to its last path component (so '/d/img_0', '/d/img_1' give
    'img_', while '/d/a', '/d/b' give 'd'); if there is no common prefix, 'stack_at-' plus the first
    file's base name. Then '-' plus the common prefix of the internal paths with '/' -> '-'.
    """
    externals, internals = [], []
    for path in expanded_paths:
        external, internal, ext = split_container_path(path)
        ext = ext if ext is not None else os.path.splitext(external)[1]
        externals.append(external[: len(external) - len(ext)] if ext and external.endswith(ext) else external)
        internals.append(internal or "")
    prefix = os.path.commonprefix(externals)
    if prefix:
        external_nickname = posixpath.basename(prefix.rstrip("/")) if prefix.rstrip("/") else ""
    else:
        first = split_container_path(expanded_paths[0])[0]
        external_nickname = "stack_at-" + os.path.splitext(posixpath.basename(first))[0]
    internal_nickname = os.path.commonprefix(internals).lstrip("/")
    return external_nickname + ("-" + internal_nickname.replace("/", "-") if internal_nickname else "")


def url_nickname(url: str) -> str:
    """ilastik's nickname of a dataset given as a URL (MultiscaleUrlDatasetInfo._nickname_from_url):
    the last path component, characters other than letters, digits, '_', '.', '-' replaced
    by '_', without its extension ('.../cells.ome.zarr' gives 'cells.ome', '.../img.zarr/1' gives '1')."""
    last = url.rstrip("/").rpartition("/")[2]
    return os.path.splitext(re.sub(r"[^a-zA-Z0-9_.-]", "_", last))[0]


def describe_missing(path: str) -> str:
    """Say whether a missing path's folder exists, so the user knows which part is wrong."""
    folder = os.path.dirname(path) or "."
    if has_glob(folder):
        return "its folder pattern matches no folder"
    if os.path.isdir(folder):
        return f"the folder {folder} exists but holds no {'matching' if has_glob(path) else 'such'} file"
    return f"the folder {folder} does not exist either"
