"""Choose a reader by extension, and resolve internal paths inside container files."""

from __future__ import annotations

import fnmatch
import os

from pixelserve.errors import UserError
from pixelserve.io.hdf5 import Hdf5Source, list_hdf5_datasets
from pixelserve.io.n5 import N5Source, list_n5_datasets
from pixelserve.io.numpy_files import NpySource, NpzSource, list_npz_members
from pixelserve.io.ome_zarr import find_image, open_ome_zarr
from pixelserve.io.paths import HDF5_EXTENSIONS, split_container_path
from pixelserve.io.pillow_images import PILLOW_EXTENSIONS, PillowSource
from pixelserve.io.source import ArraySource
from pixelserve.io.tiff import TiffSource
from pixelserve.io.zarr_files import ZarrSource, list_zarr_arrays

CONTAINER_KINDS = {**{ext: "hdf5" for ext in HDF5_EXTENSIONS}, ".n5": "n5", ".npz": "npz", ".zarr": "zarr"}
FILE_KINDS = {".tif": "tiff", ".tiff": "tiff", ".npy": "npy", **{ext: "pillow" for ext in PILLOW_EXTENSIONS}}
SUPPORTED = sorted(set(CONTAINER_KINDS) | set(FILE_KINDS))

# ilastik only offers 2D-5D datasets when it picks or globs datasets inside a container (lsH5N5).
_MIN_NDIM, _MAX_NDIM = 2, 5


def kind_of(external_path: str) -> str:
    ext = os.path.splitext(external_path)[1].lower()
    kind = CONTAINER_KINDS.get(ext) or FILE_KINDS.get(ext)
    if kind is None:
        raise UserError(
            f"Cannot read {external_path}: the extension '{ext}' is not a supported image format; "
            f"use one of {', '.join(SUPPORTED)}."
        )
    return kind


def datasets_in(container: str, kind: str | None = None) -> dict[str, int]:
    """{internal path: ndim} of every dataset in a container file or folder."""
    kind = kind or kind_of(container)
    if kind == "hdf5":
        return list_hdf5_datasets(container)
    if kind == "n5":
        return list_n5_datasets(container)
    if kind == "zarr":
        return list_zarr_arrays(container)
    if kind == "npz":
        return list_npz_members(container)
    raise UserError(f"{container} is not a container file; only .h5/.hdf5/.ilp, .n5, .zarr and .npz hold datasets.")


def list_datasets(h5_or_n5_path: str) -> list[str]:
    """Internal paths of all datasets in an HDF5/N5/zarr/npz container, sorted ('' = the container itself)."""
    external, _, _ = split_container_path(os.path.expanduser(h5_or_n5_path))
    if not os.path.exists(external):
        raise UserError(f"Container not found: {external}; check the path.")
    return list(datasets_in(external))


def _listing(datasets: dict[str, int]) -> str:
    names = [name or "(the container itself)" for name in datasets]
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return shown or "none"


def glob_internal(container: str, pattern: str) -> list[str]:
    """Datasets matching an internal-path glob like 'volumes/t*' (2D-5D only, as ilastik's globH5N5)."""
    datasets = datasets_in(container)
    matches = sorted(n for n, d in datasets.items() if _MIN_NDIM <= d <= _MAX_NDIM and fnmatch.fnmatch(n, pattern))
    if not matches:
        raise UserError(
            f"No dataset in {container} matches '{pattern}'; it holds: {_listing(datasets)}. "
            f"Give one as {container}/<internal path>."
        )
    return matches


def open_source(external: str, internal: str | None, scale: str | None = None) -> ArraySource:
    """An ArraySource for one file, or one dataset of a container (picked as ilastik does if not given).
    `scale` names the scale of an OME-Zarr image (see pixelserve.io.ome_zarr)."""
    kind = kind_of(external)
    if kind == "zarr":
        location = os.path.join(external, *internal.split("/")) if internal else external
        if find_image(location) is not None:
            return open_ome_zarr(location, scale, container=external)
    if scale is not None:
        raise UserError(f"A scale ('{scale}') was named for {external}, but only OME-Zarr images have scales; "
                        "leave the scale out.")
    if kind not in CONTAINER_KINDS.values():
        if internal is not None:
            raise UserError(f"{external} is a plain image file and cannot hold the internal path '{internal}'.")
        return {"tiff": TiffSource, "npy": NpySource, "pillow": PillowSource}[kind](external)
    datasets = datasets_in(external, kind)
    if internal is None:
        internal = _the_only_dataset(external, datasets)
    elif internal not in datasets:
        raise UserError(
            f"{external} has no dataset '{internal}'; it holds: {_listing(datasets)}. "
            f"Use one of these as {external}/<internal path>."
        )
    if kind == "hdf5":
        return Hdf5Source(external, internal)
    if kind == "n5":
        return N5Source(external, internal)
    if kind == "npz":
        return NpzSource(external, internal)
    return ZarrSource(external, internal or None)


def _the_only_dataset(external: str, datasets: dict[str, int]) -> str:
    # ilastik accepts a container without internal path only when it holds exactly one 2D-5D dataset.
    usable = [name for name, ndim in datasets.items() if _MIN_NDIM <= ndim <= _MAX_NDIM]
    if len(usable) == 1:
        return usable[0]
    if not usable:
        raise UserError(f"{external} holds no 2D-5D dataset (datasets: {_listing(datasets)}); check the file.")
    raise UserError(
        f"{external} holds {len(usable)} datasets ({_listing({n: 0 for n in usable})}); say which one to read "
        f"by appending its internal path, e.g. {external}/{usable[0]}."
    )
