"""TIFF files (plain, multipage, ImageJ hyperstacks, OME-TIFF) read lazily with tifffile.

Axis rules follow ilastik's OpTiffReader: tifffile's series axes lower-cased, the sample axis
's' becomes 'c', the page-sequence axis 'i' becomes 't', and tifffile's unnamed 'q' axes
fall back to the shape-based guess. Pixel sizes come from OME metadata, else from ImageJ's
(x/y from the resolution tags, z 'spacing', t 'finterval').
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import tifffile

from pixelserve.errors import UserError
from pixelserve.io.axes import default_axes
from pixelserve.io.source import ArraySource


def _open_tiff(path: str) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except (OSError, ValueError, tifffile.TiffFileError) as error:
        raise UserError(f"Cannot read {path} as TIFF ({error}); check that it is a complete TIFF file.") from None


class TiffSource(ArraySource):
    def __init__(self, path: str):
        self.path = path
        with _open_tiff(path) as tiff:
            if len(tiff.series) != 1:
                raise UserError(
                    f"{path} holds {len(tiff.series)} image series; pixelserve (like ilastik) reads TIFFs with "
                    "exactly one series, so save each image to its own file."
                )
            series = tiff.series[0]
            self.shape, self.dtype = tuple(series.shape), np.dtype(series.dtype)
            file_axes = series.axes.lower()
            ome_xml, imagej = tiff.ome_metadata, tiff.imagej_metadata
            tags = tiff.pages[0].tags
            resolution_tags = (tags.get("XResolution"), tags.get("YResolution"))
        self.axes = file_axes.replace("s", "c").replace("i", "t")
        # 'i' (a plain page sequence) means nothing definite; ilastik's choice of 't' is a convention.
        self.axes_from_file = "i" not in file_axes
        if "q" in self.axes:
            self.axes, self.axes_from_file = default_axes(self.shape), False
        if ome_xml:
            self.resolution = _ome_resolution(ome_xml, self.axes)
        elif imagej:
            self.resolution = _imagej_resolution(imagej, resolution_tags, self.axes)
        else:
            self.resolution = {}

    def _memmap(self):
        def try_memmap():
            try:
                # Uncompressed contiguous data maps straight from disk: no decoding, thread-safe.
                array = tifffile.memmap(self.path, mode="r")
            except (ValueError, OSError):
                return None
            # tifffile may map without squeezing singleton axes; same size means same data layout.
            return array.reshape(self.shape) if array.size == int(np.prod(self.shape)) else None

        return self._handle("memmap", try_memmap)

    def _read(self, region):
        mapped = self._memmap()
        if mapped is not None:
            return np.array(mapped[region])
        import zarr  # the zarr view of a TIFF decodes only the strips/tiles/pages a region touches

        with _open_tiff(self.path) as tiff:
            store = tiff.series[0].aszarr(level=0)
            try:
                return np.asarray(zarr.open_array(store, mode="r")[region])
            finally:
                store.close()


def _ome_resolution(ome_xml: str, axes: str) -> dict[str, tuple[float, str]]:
    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError:
        return {}
    # Match on the local tag name: the OME namespace differs between schema versions.
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return {}
    keys = {"x": ("PhysicalSizeX", "µm"), "y": ("PhysicalSizeY", "µm"), "z": ("PhysicalSizeZ", "µm"),
            "t": ("TimeIncrement", "s")}
    resolution = {}
    for axis, (attribute, default_unit) in keys.items():
        if axis in axes and float(pixels.attrib.get(attribute, 0) or 0) > 0:
            resolution[axis] = (float(pixels.attrib[attribute]), pixels.attrib.get(attribute + "Unit", default_unit))
    return resolution


def _imagej_unit(metadata: dict, key: str) -> str:
    unit = str(metadata.get(key, "") or "")
    # Fiji sometimes stores a unit as the text of a 1-tuple, e.g. "('micron',)".
    if len(unit) > 5 and unit.startswith("('") and unit.endswith("',)"):
        unit = unit[2:-3]
    try:
        return unit.encode("ascii").decode("unicode_escape")  # e.g. "\\u00B5m" -> "µm"
    except (UnicodeEncodeError, UnicodeDecodeError):
        return unit


def _pixel_size_from_tag(tag) -> float:
    # The TIFF tag holds pixels per unit as a fraction; its inverse is the pixel size. Fractions
    # make near-integers inexact, so snap them like ilastik does.
    if tag is None or not tag.value or tag.value[0] == 0:
        return 0.0
    size = tag.value[1] / tag.value[0]
    return float(round(size)) if abs(size - round(size)) < 1e-8 else size


def _imagej_resolution(metadata: dict, resolution_tags, axes: str) -> dict[str, tuple[float, str]]:
    values = {
        "x": _pixel_size_from_tag(resolution_tags[0]),
        "y": _pixel_size_from_tag(resolution_tags[1]),
        "z": float(metadata.get("spacing", 0) or 0),
        "t": float(metadata.get("finterval", 0) or 0),
    }
    units = {"x": _imagej_unit(metadata, "unit"), "y": _imagej_unit(metadata, "yunit"),
             "z": _imagej_unit(metadata, "zunit"), "t": _imagej_unit(metadata, "tunit")}
    # ImageJ omits y and z units when they equal the x unit.
    for axis in "yz":
        if units["x"] and values[axis] and not units[axis]:
            units[axis] = units["x"]
    if not any(units.values()) and values["x"] == 1 and values["y"] == 1:
        return {}  # resolution tags of 1 without a unit are a default, not a calibration
    return {a: (values[a], units[a]) for a in "tzyx" if a in axes and values[a] > 0}
