"""OME-Zarr (NGFF) multiscale images from a local folder, a file:// URI or an http(s):// URL.

Facts from the NGFF specification (ngff.openmicroscopy.org, versions 0.1-0.5) and from
ilastik's reader (lazyflow/utility/io_util/OMEZarrStore.py, OpOMEZarrMultiscaleReader.py):

- The image is a zarr group whose attributes hold "multiscales": in zarr v2 '.zattrs'
  (NGFF <= 0.4), in zarr v3 'zarr.json' under attributes.ome (NGFF 0.5). Each multiscales
  entry lists "datasets" (one per scale, highest resolution first, each with its array
  "path" and "coordinateTransformations") and "axes" (0.4+: objects with "name", "type",
  "unit"; 0.3: plain names; 0.1/0.2: always tczyx).
- Pixel size: the dataset's first "scale" transformation times the multiscale's own, as
  ilastik computes it (_resolution_from_multiscale); units from the axes.
- Where to read: a location may point at the image or at one of its scales. Like ilastik
  (_introspect_for_multiscales_root) the multiscales group is searched at the location, then
  at its parents, up to and including the first path component that contains ".zarr"; what
  lies below the image is the scale's path.
- Which scale: the one named, else the lowest resolution, i.e. the last dataset, which is
  what ilastik's headless batch reads (OpOMEZarrMultiscaleReader.setupOutputs: the selected
  scale, else the scale in the URL, else `lowest_resolution_key`; a headless batch lane sets
  no scale, ilastik/applets/dataSelection/opDataSelection.py MultiscaleUrlDatasetInfo).
  A scale path that only another multiscales entry has selects that entry
  (_get_multiscale_for_dataset); otherwise the first entry is read.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass

from pixelserve.errors import UserError
from pixelserve.io.axes import axes_from_names, is_valid_file_axes
from pixelserve.io.chunk_stores import is_http_url, parent_location, read_json, store_for
from pixelserve.io.source import ArraySource
from pixelserve.io.zarr_arrays import ZarrArray, open_zarr_array

logger = logging.getLogger(__name__)

_OLD_DEFAULT_AXES = ["t", "c", "z", "y", "x"]  # NGFF 0.1 and 0.2 had fixed axes


@dataclass(frozen=True)
class Scales:
    """What an OME-Zarr export of a result of this image follows, as ilastik's does
    (write_ome_zarr.py: the input's scale names and shapes, its translation)."""

    read: str                               # the path of the scale read
    axes: str                               # the image's axes (those of `shapes`)
    shapes: dict[str, tuple[int, ...]]      # every scale's shape by path, highest resolution first
    translation: dict[str, float]           # axis -> the read scale's translation plus the image's, physical


class OmeZarrSource(ArraySource):
    """One scale of an OME-Zarr image, read chunk by chunk."""

    def __init__(self, array: ZarrArray, axes: str, resolution: dict, root: str, scales: Scales,
                 internal_path: str | None):
        self.array, self.root, self.scales = array, root, scales
        self.shape, self.dtype = array.shape, array.dtype
        self.axes, self.axes_from_file, self.resolution = axes, True, resolution
        self.internal_path = internal_path

    def _read(self, region):
        return self.array.read(region)


def ome_attributes(store) -> dict | None:
    """The NGFF attributes of the group at the store's root (with "multiscales", "plate",
    "well", "labels", ...), or None if it is no zarr group with NGFF metadata."""
    group = read_json(store, "zarr.json")
    if group is not None:
        attributes = group.get("attributes") or {}
    else:
        attributes = read_json(store, ".zattrs") or {}
    # NGFF 0.5 nests its keys under "ome"; some writers put 0.4-style keys into zarr v3 too.
    ome = attributes.get("ome")
    return ome if isinstance(ome, dict) else attributes


def _multiscales(attributes: dict | None) -> list | None:
    found = (attributes or {}).get("multiscales")
    return found if isinstance(found, list) and found else None


def find_image(location: str) -> tuple[str, list, str] | None:
    """(image location, its multiscales entries, the path below it) for the first image found
    at `location` or its parents, as ilastik searches; None if there is none."""
    candidate, below = location.rstrip("/\\"), ""
    while candidate:
        multiscales = _multiscales(ome_attributes(store_for(candidate)))
        if multiscales is not None:
            return candidate, multiscales, below
        name = _last_component(candidate)
        if ".zarr" in name.lower():
            return None
        below = f"{name}/{below}".rstrip("/")
        candidate = parent_location(candidate)
    return None


def _last_component(location: str) -> str:
    if is_http_url(location):
        return urllib.parse.unquote(urllib.parse.urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1])
    return os.path.basename(location)


def open_ome_zarr(location: str, scale: str | None = None, container: str | None = None) -> OmeZarrSource:
    """The OME-Zarr image at (or containing) a local folder or an http(s) URL, at the scale
    named by `scale` (a scale path or index), else by the path below the image, else the
    lowest resolution. `container` is the .zarr folder a local location was given in; the
    source's internal path is then relative to it."""
    found = find_image(location)
    if found is None:
        raise _not_an_image(location)
    root, multiscales, below = found
    entry, scale_path = _choose_scale(root, multiscales, scale or below or None)
    axis_names = _axis_names(entry)
    store = store_for(root)
    array = open_zarr_array(store, scale_path)
    axes = axes_from_names(axis_names)
    if axes is None or not is_valid_file_axes(axes):
        raise UserError(f"{root} declares the axes {axis_names}, which pixelserve cannot map onto t, z, y, x, c; "
                        "re-save the image with axes named t, c, z, y and x.")
    if len(axes) != len(array.shape):
        raise UserError(f"{root} declares {len(axes)} axes ({axes}) but its scale '{scale_path}' has "
                        f"{len(array.shape)} dimensions (shape {array.shape}); the OME-Zarr metadata is damaged.")
    internal = scale_path
    if container is not None:
        relative = os.path.relpath(root, container).replace(os.sep, "/")
        internal = scale_path if relative == "." else f"{relative}/{scale_path}"
    shapes = {str(d["path"]): array.shape if str(d["path"]) == scale_path else open_zarr_array(store, str(d["path"])).shape
              for d in entry["datasets"]}
    scales = Scales(scale_path, axes, shapes, _translation(entry, scale_path, axes))
    return OmeZarrSource(array, axes, _resolution(entry, scale_path, axes), root, scales, internal)


def _choose_scale(root: str, multiscales: list, wanted: str | None) -> tuple[dict, str]:
    for entry in multiscales:
        _check_entry(root, entry)
    if wanted is None:
        if len(multiscales) > 1:
            logger.warning("%s holds %d multiscale images; reading the first (name a scale of another to read it)",
                           root, len(multiscales))
        return multiscales[0], str(multiscales[0]["datasets"][-1]["path"])
    wanted = wanted.strip("/")
    for entry in multiscales:
        if any(str(d["path"]) == wanted for d in entry["datasets"]):
            return entry, wanted
    paths = [str(d["path"]) for d in multiscales[0]["datasets"]]
    if wanted.lstrip("-").isdigit() and -len(paths) <= int(wanted) < len(paths):
        return multiscales[0], paths[int(wanted)]
    raise UserError(f"The OME-Zarr image {root} has no scale '{wanted}'; its scales are {', '.join(paths)} "
                    f"(highest resolution first): name one of them, or its index 0 to {len(paths) - 1}.")


def _check_entry(root: str, entry) -> None:
    datasets = entry.get("datasets") if isinstance(entry, dict) else None
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, dict) and "path" in d
                                                                  for d in datasets):
        raise UserError(f"The OME-Zarr metadata of {root} lists no scales (a multiscales entry without datasets "
                        "and their paths); the metadata is damaged.")


def _axis_names(entry: dict) -> list[str]:
    axes = entry.get("axes")
    if axes is None:
        return list(_OLD_DEFAULT_AXES)
    return [a.get("name") if isinstance(a, dict) else a for a in axes]


def _first_transformation(transformations, kind: str) -> list[float] | None:
    """The values of the first inline transformation of `kind` ("scale", "translation")."""
    for transformation in transformations or []:
        if isinstance(transformation, dict) and transformation.get("type") == kind and "path" not in transformation:
            values = transformation.get(kind)
            if isinstance(values, list):
                return [float(v) for v in values]
    return None


def _translation(entry: dict, scale_path: str, axes: str) -> dict[str, float]:
    """The offset ilastik carries into an export (OMEZarrTranslations): the read scale's
    translation plus the multiscale's own, each in physical units, per axis but c."""
    dataset = next(d for d in entry["datasets"] if str(d["path"]) == scale_path)
    total = dict.fromkeys(axes.replace("c", ""), 0.0)
    for values in (_first_transformation(dataset.get("coordinateTransformations"), "translation"),
                   _first_transformation(entry.get("coordinateTransformations"), "translation")):
        if values is not None and len(values) == len(axes):
            for axis, value in zip(axes, values):
                if axis != "c":
                    total[axis] += value
    return {axis: value for axis, value in total.items() if value}


def _resolution(entry: dict, scale_path: str, axes: str) -> dict[str, tuple[float, str]]:
    """Pixel size and unit per axis (not c); ilastik's rule: dataset scale times multiscale scale."""
    units = [a.get("unit", "") if isinstance(a, dict) else "" for a in entry.get("axes") or []] or [""] * len(axes)
    dataset = next(d for d in entry["datasets"] if str(d["path"]) == scale_path)
    sizes = _first_transformation(dataset.get("coordinateTransformations"), "scale")
    if sizes is None or len(sizes) != len(axes):
        return {}
    overall = _first_transformation(entry.get("coordinateTransformations"), "scale")
    if overall is not None and len(overall) == len(axes):
        sizes = [a * b for a, b in zip(sizes, overall)]
    return {a: (v, str(u or "")) for a, v, u in zip(axes, sizes, units) if a != "c" and v > 0}


def _not_an_image(location: str) -> UserError:
    store = store_for(location)
    suggestions = _sub_images(location, ome_attributes(store))
    if suggestions:
        kind, paths = suggestions
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        return UserError(f"{location} is an OME-Zarr {kind}, not an image; give one of its images: {shown}.")
    if any(read_json(store, key) is not None for key in ("zarr.json", ".zgroup", ".zarray")):
        return UserError(f"{location} is a zarr but not an OME-Zarr image (no 'multiscales' metadata here or in "
                         "its parent folders); give the OME-Zarr image folder, or a plain zarr as a local path.")
    return UserError(f"{location} is not an OME-Zarr image: neither zarr.json (NGFF 0.5) nor .zattrs (NGFF 0.4) "
                     "with 'multiscales' was found there or in its parent folders; check the address (it names "
                     "the image's .zarr folder, optionally followed by a scale path such as /0).")


def _sub_images(location: str, attributes: dict) -> tuple[str, list[str]] | None:
    """What an NGFF collection (plate, well, labels, bioformats2raw) holds instead of an image."""
    base = location.rstrip("/")
    try:
        if "plate" in attributes:
            return "plate", [f"{base}/{well['path']}" for well in attributes["plate"]["wells"]]
        if "well" in attributes:
            return "well", [f"{base}/{image['path']}" for image in attributes["well"]["images"]]
        if "labels" in attributes:
            return "labels group", [f"{base}/{name}" for name in attributes["labels"]]
    except (KeyError, TypeError):
        return None
    if "bioformats2raw.layout" in attributes:
        return "bioformats2raw collection", [f"{base}/0"]
    return None


def file_uri_to_path(uri: str) -> str:
    """The local path of a file:// URI (percent-escapes decoded, e.g. %20 for a space)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise UserError(f"{uri} names the host {parts.netloc!r}; pixelserve reads file:// URIs of this computer only "
                        "(file:///path/to/image.zarr).")
    return urllib.request.url2pathname(parts.path)
