"""open_dataset: turn an ilastik-style input spec into a lazily read Dataset."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

import numpy as np

from pixelserve.errors import UserError
from pixelserve.io.axes import AXES, check_explicit_axes, is_valid_file_axes
from pixelserve.io.formats import CONTAINER_KINDS, glob_internal, kind_of, open_source
from pixelserve.io.ome_zarr import OmeZarrSource, Scales, file_uri_to_path, open_ome_zarr
from pixelserve.io.paths import (
    create_nickname,
    describe_missing,
    extension_of,
    has_glob,
    split_container_path,
    split_path_list,
    url_nickname,
)
from pixelserve.io.source import ArraySource, DamagedPixels, normalize_region
from pixelserve.io.stack import StackSource


def _damaged_file_errors() -> tuple[type[BaseException], ...]:
    """What the readers raise for a file whose header is fine but whose pixel data is broken."""
    import zlib

    import tifffile

    errors: list[type[BaseException]] = [DamagedPixels, tifffile.TiffFileError, zlib.error, EOFError]
    try:
        import imagecodecs

        errors += [getattr(imagecodecs, name) for name in dir(imagecodecs) if name.endswith("Error")
                   and isinstance(getattr(imagecodecs, name), type)
                   and issubclass(getattr(imagecodecs, name), Exception)]
    except ImportError:
        pass
    return tuple(errors)


_DAMAGED_FILE_ERRORS = _damaged_file_errors()


@dataclass
class Dataset:
    """A lazily read input image. Memory stays bounded: nothing reads the whole file until asked."""

    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str  # one letter per dimension, subset of "tzyxc", in storage order
    axes_from_file: bool  # False when the axes are ilastik's guess from the number of dimensions
    # absolute external file paths in stack order, without internal paths; for an OME-Zarr
    # address: the image's folder (file://) or URL (http, https)
    paths: list[str]
    internal_path: str | None  # e.g. "volume/data"; None for plain files or mixed internal paths
    nickname: str  # ilastik's default nickname (see paths.create_nickname)
    resolution: dict[str, tuple[float, str]]  # axis -> (pixel size, unit) when the file tells
    # ilastik's expanded paths: one per stacked member, with the internal path when one was given.
    expanded_paths: list[str] = field(default_factory=list)
    # an OME-Zarr image's scales: the one read, every scale's shape, the offset; None for other inputs
    scales: Scales | None = None
    _source: ArraySource | None = field(default=None, repr=False, compare=False)

    @property
    def scale(self) -> str | None:
        """The path of the OME-Zarr scale read (None for inputs without scales)."""
        return self.scales.read if self.scales is not None else None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def label(self) -> str:
        """How messages name the dataset: its file (or file count) and internal path."""
        path = self.paths[0] if len(self.paths) == 1 else f"{len(self.paths)} files"
        return path + (f"/{self.internal_path}" if self.internal_path else "")

    def read(self, region: tuple[slice, ...] | None = None) -> np.ndarray:
        """Read a region given in this dataset's own axes (missing trailing entries mean 'all')."""
        region = normalize_region(region, self.shape)
        try:
            data = self._source.read(region)
        except _DAMAGED_FILE_ERRORS as error:
            where = self.paths[0] if len(self.paths) == 1 else f"one of the {len(self.paths)} files of {self.nickname}"
            raise UserError(f"Could not read the pixels of {where}: {error}. The file is damaged or "
                            "incomplete (e.g. a copy that was cut short): copy or export it again") from None
        # Readers may hand back big-endian data (TIFF, N5, .npy); callers always get native order.
        return np.asarray(data, dtype=self.dtype)


@dataclass(frozen=True)
class _Member:
    external: str
    internal: str | None
    internal_given: bool  # ilastik names the internal path in expanded paths only when the user did

    @property
    def expanded(self) -> str:
        return self.external + ("/" + self.internal if self.internal_given and self.internal else "")


def open_dataset(spec: str, *, axes: str | None = None, stack_along: str = "z", base_dir: str | None = None,
                 scale: str | None = None) -> Dataset:
    """Open a path, glob, os.pathsep list, or container path with internal path, as ilastik would;
    or an OME-Zarr image given as a file:// or http(s):// URL.

    Relative paths resolve against base_dir (projects store paths relative to the project file)
    or the working directory. Several files stack along `stack_along`. Explicit `axes`
    (ilastik's --input_axes) override what the file says and must fit the number of dimensions.
    `scale` picks the scale of an OME-Zarr image (its path, e.g. 's1', or its index: 0 the
    highest resolution, -1 the lowest); without it the scale named after the image's path is
    read, else the lowest resolution, as in ilastik's headless mode.
    """
    spec = os.fspath(spec) if isinstance(spec, os.PathLike) else spec
    if not isinstance(spec, str) or not spec.strip():
        raise UserError("No input path was given; pass an image file, a glob like 'imgs/*.png', or file.h5/internal/path.")
    stack_along = (stack_along or "z").strip().lower()
    if len(stack_along) != 1 or stack_along not in AXES:
        raise UserError(f"Invalid stack axis {stack_along!r}: use one of t, z, y, x, c (default z).")

    urls = [part for part in split_path_list(spec) if "://" in part]
    if urls:
        if len(split_path_list(spec)) > 1:
            raise UserError(f"The input {spec} lists several paths with an address among them; give one OME-Zarr "
                            "address per input (addresses cannot be stacked).")
        source, paths, expanded, nickname = _open_url(urls[0], scale)
    else:
        members = _expand(spec, base_dir or os.getcwd())
        extensions = {extension_of(m.external).lower() for m in members}
        if len(extensions) > 1:
            raise UserError(
                f"The input {spec} mixes file types ({', '.join(sorted(extensions))}); "
                "a stack must consist of files of one format."
            )
        sources = [open_source(m.external, m.internal, scale) for m in members]
        expanded = [m.expanded for m in members]
        source = sources[0] if len(sources) == 1 else StackSource(sources, expanded, stack_along)
        paths, nickname = list(dict.fromkeys(m.external for m in members)), create_nickname(expanded)

    if not 2 <= len(source.shape) <= 5:
        raise UserError(
            f"{expanded[0]} has {len(source.shape)} dimensions (shape {source.shape}); "
            "pixelserve, like ilastik, reads 2D to 5D images."
        )
    resolution, axes_from_file = dict(source.resolution), source.axes_from_file
    if axes is not None:
        keys = check_explicit_axes(axes, source.shape, spec)
        if keys != source.axes:
            resolution = {}  # pixel sizes were tied to the file's own axes; ilastik drops them too
        source_axes, axes_from_file = keys, True
    else:
        source_axes = source.axes
        if not is_valid_file_axes(source_axes):
            raise UserError(
                f"{expanded[0]} declares the axes '{source_axes}', which pixelserve cannot map onto "
                "t, z, y, x, c; give the axes explicitly (e.g. --input_axes zyxc)."
            )
    return Dataset(
        shape=tuple(int(s) for s in source.shape),
        dtype=np.dtype(source.dtype).newbyteorder("="),
        axes=source_axes,
        axes_from_file=axes_from_file,
        paths=paths,
        internal_path=source.internal_path or None,
        nickname=nickname,
        resolution=resolution,
        expanded_paths=expanded,
        scales=source.scales if isinstance(source, OmeZarrSource) else None,
        _source=source,
    )


def _open_url(url: str, scale: str | None) -> tuple[ArraySource, list[str], list[str], str]:
    """(source, [image folder or URL], [url], ilastik's nickname) of an OME-Zarr URL; like
    ilastik, pixelserve reads URLs as OME-Zarr only."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "file":
        location = file_uri_to_path(url)
    elif scheme in ("http", "https"):
        location = url
    else:
        raise UserError(f"Cannot open {url}: pixelserve reads OME-Zarr from file://, http:// and https:// addresses "
                        f"only, not {scheme}://; use the server's https address (for S3 buckets "
                        "https://<endpoint>/<bucket>/...) or download the data first.")
    source = open_ome_zarr(location, scale)
    return source, [source.root], [url], url_nickname(url)


def _expand(spec: str, base_dir: str) -> list[_Member]:
    """ilastik's expand_path: split the list, resolve, glob external and internal paths, sort."""
    members: list[_Member] = []
    missing: list[str] = []
    for part in split_path_list(spec):
        external, internal, matches = _matching_files(part, base_dir)
        if not matches:
            missing.append(external)
            continue
        for path in matches:
            if os.path.isdir(path) and _kind_or_none(path) not in CONTAINER_KINDS.values():
                raise UserError(
                    f"{path} is a folder, not an image; give the files inside it, e.g. '{path}/*.png' (quoted)."
                )
            if internal is not None and has_glob(internal):
                members += [_Member(path, name, True) for name in glob_internal(path, internal)]
            else:
                members.append(_Member(path, internal, internal is not None))
    if missing:
        details = "; ".join(f"{path} ({describe_missing(path)})" for path in missing)
        what = "No file matches" if all(has_glob(p) for p in missing) else "Input file not found:"
        raise UserError(f"{what} {details}; check the path (relative paths start at {base_dir}).")
    return sorted(members, key=lambda m: m.expanded)


def input_files(spec: str, base_dir: str | None = None) -> list[str]:
    """The files (and container folders) that open_dataset(spec) reads, its globs expanded
    alike, found without opening any (a server checks them first)."""
    return [path for part in split_path_list(spec) for path in _matching_files(part, base_dir or os.getcwd())[2]]


def _matching_files(part: str, base_dir: str) -> tuple[str, str | None, list[str]]:
    """(external path, internal path, the existing files it names) of one path of a spec."""
    external, internal, _ = split_container_path(part)
    external = os.path.abspath(os.path.join(base_dir, os.path.expanduser(external)))
    # A literal name that exists wins over glob syntax, so 'img[1].png' stays readable.
    if os.path.exists(external):
        return external, internal, [external]
    return external, internal, sorted(glob.glob(external)) if has_glob(external) else []


def _kind_or_none(path: str) -> str | None:
    try:
        return kind_of(path)
    except UserError:
        return None
