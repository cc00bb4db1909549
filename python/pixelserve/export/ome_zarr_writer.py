"""OME-Zarr output as ilastik 1.4.2 writes it (lazyflow/utility/io_util/write_ome_zarr.py;
format names and the .zarr extension from lazyflow/operators/ioOperators/opExportSlot.py):
'single-scale OME-Zarr' (since 1.4.1) and 'multi-scale OME-Zarr' (since 1.4.2).

- NGFF 0.4 on zarr format 2: a group with one array per scale ('s0', 's1', ...), chunk keys
  separated by '/', Blosc lz4 level 5 with byte shuffle (zarr-python 2's default compressor),
  fill value 0.
- Always 5D in the order t, c, z, y, x (missing axes become singletons), whatever
  --output_axis_order says; chunks as ilastik's HDF5 ones (one t and one c) with about 1 MB.
- Multi-scale: halved along z, y and x (floor, at least 1) per level until a level fits one
  chunk; each level is downscaled from the previous one (see downscale.py: Gaussian smoothing
  and linear interpolation, nearest neighbour for label images).
- Metadata: "multiscales" with axes (name, type, unit), per scale a "scale" transformation
  that holds the pixel size along the axes the pyramid scales (times the level's factor) and
  1 elsewhere; the pixel size along the other axes and the cutout's offset (in physical
  units, after a scale of 1s if needed) as the multiscale's own transformations; "metadata"
  describing the downscaling; "_creator". Each array also gets ilastik's attributes
  'axistags' (vigra JSON), 'axis_units', 'display_mode' and 'drange'.

Units are written as NGFF names ('micrometer', not 'um', which NGFF readers refuse); ilastik
writes them as the input gave them. An existing OME-Zarr image at the output path is replaced
(ilastik refuses to overwrite one).

For an OME-Zarr input, as in ilastik (OpExportSlot._get_target_scales, write_ome_zarr.py): the
single scale is named after the scale read; the multi-scale levels are the input's scales from
the one read on, with the input's names and shapes (scaled down from the export's shape when a
cutout changed it); the input's translation is added to the offset; and an axis along which
the input's scales differ counts as scaled even in a single-scale export.

Written by pixelserve itself (format 2 is a few JSON files and one compressed file per chunk),
blockwise through chunk_assembly; each pyramid level is computed chunk by chunk when the full
resolution is complete, reading it back from the folder being written.
"""

from __future__ import annotations

import json
import os

import numcodecs
import numpy as np

from pixelserve import __version__
from pixelserve.errors import UserError
from pixelserve.io.axes import vigra_axistags_json
from pixelserve.io.chunk_stores import LocalStore
from pixelserve.io.ome_zarr import Scales, ome_attributes
from pixelserve.io.zarr_arrays import open_zarr_array

from .chunk_assembly import ChunkAssembler
from .downscale import LINEAR, NEAREST, downscale_block, pyramid_shapes
from .hdf5_writer import ilastik_chunk_shape
from .writer_base import ConcurrentWriter, ExportMetadata

OME_AXES = "tczyx"
NGFF_VERSION = "0.4"
CHUNK_BYTES = 1_024_000.0  # ilastik: "max of 1MB uncompressed per chunk"
_COMPRESSOR = {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}
_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
# Common spellings of units and their NGFF (UDUNITS-2) names.
_NGFF_UNITS = {
    **dict.fromkeys(("um", "µm", "μm", "micron", "microns", "micrometre", "micrometers"), "micrometer"),
    **dict.fromkeys(("nm", "nanometre", "nanometers"), "nanometer"),
    **dict.fromkeys(("mm", "millimetre", "millimeters"), "millimeter"),
    **dict.fromkeys(("cm", "centimetre", "centimeters"), "centimeter"),
    **dict.fromkeys(("m", "metre", "meters"), "meter"),
    **dict.fromkeys(("pm", "picometre"), "picometer"),
    **dict.fromkeys(("å", "angstroms"), "angstrom"),
    **dict.fromkeys(("s", "sec", "secs", "seconds"), "second"),
    **dict.fromkeys(("ms", "msec", "milliseconds"), "millisecond"),
    **dict.fromkeys(("us", "µs", "μs", "microseconds"), "microsecond"),
    **dict.fromkeys(("ns", "nanoseconds"), "nanosecond"),
    **dict.fromkeys(("min", "mins", "minutes"), "minute"),
    **dict.fromkeys(("h", "hr", "hrs", "hours"), "hour"),
    **dict.fromkeys(("d", "days"), "day"),
}


def ngff_unit(unit: str) -> str:
    return _NGFF_UNITS.get(unit.strip().lower(), unit.strip())


class SingleScaleOmeZarrWriter(ConcurrentWriter):
    name = "single-scale OME-Zarr"
    extension = "zarr"
    multiscale = False

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata, *, chunks=None, create=True):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata, chunks=chunks)
        self._shape5 = _in_ome_axes(self.shape, axes, 1)
        self._chunks = _in_ome_axes(self.chunks, axes, 1) if self.chunks else _ome_chunks(self._shape5, self.dtype)
        self._names, self._levels = self._target_scales(metadata.input_scales)
        self._codec = numcodecs.get_codec(dict(_COMPRESSOR))
        if create:
            if os.path.lexists(final_path) and not (os.path.isdir(final_path) and (
                    not os.listdir(final_path) or ome_attributes(LocalStore(final_path)).get("multiscales"))):
                raise UserError(f"The output {final_path} exists and is not an OME-Zarr image, so it is not replaced: "
                                "delete it or choose another --output_filename_format")
            os.mkdir(temp_path)
            self._write_array_metadata(0)
        self._full = open_zarr_array(LocalStore(temp_path), self._names[0])
        self._assembler = ChunkAssembler(self._shape5, self._chunks, self.dtype,
                                         lambda index, data: self._store_chunk(0, index, data), self._load_chunk)

    def _target_scales(self, input_scales: Scales | None) -> tuple[list[str], list[tuple[int, ...]]]:
        """(names, shapes) of the scales written: the input's own (ilastik's OpExportSlot
        _get_target_scales) for an OME-Zarr input, else s0, s1, ... halving until one chunk."""
        if input_scales is None:
            levels = pyramid_shapes(self._shape5, OME_AXES, self._chunks) if self.multiscale else [self._shape5]
            return [f"s{level}" for level in range(len(levels))], levels
        if not self.multiscale:
            return [input_scales.read], [self._shape5]
        matched = scales_matching_input(self._shape5, input_scales)
        return list(matched), list(matched.values())

    @classmethod
    def shared_chunks(cls, shape, axes, dtype, block_shape):
        """The format's own chunks (about 1 MB, as a viewer wants them, and the same pyramid as
        a single process builds): blocks are widened to whole ones."""
        chunks5 = _ome_chunks(_in_ome_axes(shape, axes, 1), np.dtype(dtype))
        return tuple(chunks5[OME_AXES.index(a)] for a in axes)

    def write(self, start, block):
        # from the output axes to t, c, z, y, x with the missing axes as singletons
        order = [self.axes.index(a) for a in OME_AXES if a in self.axes]
        block5 = block.transpose(order).reshape(_in_ome_axes(block.shape, self.axes, 1))
        self._assembler.write(_in_ome_axes(start, self.axes, 0), block5)

    def finishing_elements(self) -> int:
        return sum(int(np.prod(shape)) for shape in self._levels[1:])

    def finish(self):
        self._assembler.finish()
        order = NEAREST if self.metadata.label_colors else LINEAR
        for level in range(1, len(self._levels)):
            self._write_level(level, order)
        self._write_group_metadata(order)

    def abort(self):
        self._assembler = None

    # chunks -------------------------------------------------------------------------------

    def _chunk_file(self, level: int, index) -> str:
        return os.path.join(self.temp_path, self._names[level], *(str(i) for i in index))

    def _store_chunk(self, level: int, index, data: np.ndarray) -> None:
        # zarr format 2 stores whole chunks: edge chunks are padded with the fill value
        whole = np.zeros(self._chunks, dtype=self.dtype.newbyteorder("<"))
        whole[tuple(slice(0, n) for n in data.shape)] = data
        path = self._chunk_file(level, index)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(self._codec.encode(whole))

    def _load_chunk(self, index) -> np.ndarray:
        return self._full.read(self._assembler.chunk_region(index))

    def _write_level(self, level: int, order: int) -> None:
        """Level `level` from level - 1, one chunk at a time (ilastik's block grid)."""
        self._write_array_metadata(level)
        source = open_zarr_array(LocalStore(self.temp_path), self._names[level - 1])
        shape = self._levels[level]
        ranges = [range(0, n, c) for n, c in zip(shape, self._chunks)]
        for start in np.array(np.meshgrid(*ranges, indexing="ij")).reshape(len(shape), -1).T:
            stop = np.minimum(start + self._chunks, shape)
            block = np.empty(tuple(stop - start), dtype=self.dtype)
            downscale_block(source.read, source.shape, shape, start, stop, order, OME_AXES.index("c"), block)
            self._store_chunk(level, tuple(start // self._chunks), block)
            if self.finish_progress is not None:
                self.finish_progress(block.size)

    # metadata -----------------------------------------------------------------------------

    def _write_array_metadata(self, level: int) -> None:
        folder = os.path.join(self.temp_path, self._names[level])
        os.makedirs(folder, exist_ok=True)
        _write_json(os.path.join(folder, ".zarray"), {
            "chunks": list(self._chunks), "compressor": _COMPRESSOR, "dimension_separator": "/",
            "dtype": self.dtype.newbyteorder("<").str, "fill_value": 0, "filters": None, "order": "C",
            "shape": list(self._levels[level]), "zarr_format": 2,
        })
        _write_json(os.path.join(folder, ".zattrs"), self._array_attributes())

    def _array_attributes(self) -> dict:
        metadata = self.metadata
        attributes: dict = {"axistags": vigra_axistags_json(OME_AXES, metadata.resolution)}
        units = {a: u for a, u in metadata.axis_units.items() if a in OME_AXES and u}
        if units:
            attributes["axis_units"] = units
        if metadata.display_mode:
            attributes["display_mode"] = metadata.display_mode
        if metadata.drange is not None:
            attributes["drange"] = np.array(metadata.drange, dtype=self.dtype).tolist()
        return attributes

    def _write_group_metadata(self, order: int) -> None:
        _write_json(os.path.join(self.temp_path, ".zgroup"), {"zarr_format": 2})
        _write_json(os.path.join(self.temp_path, ".zattrs"), {
            "_creator": {"name": "pixelserve", "version": __version__},
            "multiscales": [multiscale_metadata(self._names, self._levels, self.metadata, order)],
        })


class MultiScaleOmeZarrWriter(SingleScaleOmeZarrWriter):
    name = "multi-scale OME-Zarr"
    multiscale = True


def _in_ome_axes(values, axes: str, missing: int) -> tuple[int, ...]:
    """Per-axis `values` (in `axes`) in t, c, z, y, x order, `missing` for absent axes."""
    return tuple(int(values[axes.index(a)]) if a in axes else missing for a in OME_AXES)


def _ome_chunks(shape5, dtype: np.dtype) -> tuple[int, ...]:
    return ilastik_chunk_shape(shape5, OME_AXES, dtype.itemsize, CHUNK_BYTES)


def scales_matching_input(shape5: tuple[int, ...], scales: Scales) -> dict[str, tuple[int, ...]]:
    """ilastik's match_target_scales_to_input_excluding_upscales (write_ome_zarr.py): the
    input's scales from the one read on (no upscaling), by name; the input's own shapes when
    the export has the read scale's shape, else the export's shape divided by each scale's
    factor (floor, at least 1), stopping before a scale thinner than 2D. Channels: the export's."""
    export = dict(zip(OME_AXES, shape5))
    source = dict(zip(scales.axes, scales.shapes[scales.read]))
    names = list(scales.shapes)[list(scales.shapes).index(scales.read):]
    if all(a not in source or a == "c" or export[a] == source[a] for a in OME_AXES):
        tagged = {name: dict(zip(scales.axes, scales.shapes[name])) for name in names}
    else:
        tagged = {}
        for name in names:
            shape = dict(zip(scales.axes, scales.shapes[name]))
            factors = {a: source[a] / shape[a] if a in shape and a != "c" else 1.0 for a in OME_AXES}
            scaled = {a: max(int(n / factors[a]), 1) for a, n in export.items()}
            if sum(scaled[a] > 1 for a in "zyx") < 2 and name != scales.read:
                break
            tagged[name] = scaled
    return {name: tuple(export["c"] if a == "c" else shape.get(a, 1) for a in OME_AXES)
            for name, shape in tagged.items()}


def multiscale_metadata(names: list[str], levels: list[tuple[int, ...]], metadata: ExportMetadata, order: int) -> dict:
    """The NGFF multiscales entry of an export, with ilastik's split of the pixel size between
    the scales and the whole (write_ome_zarr._get_resolution_as_split_scaling): an axis along
    which the levels, or an OME-Zarr input's scales, differ in size gets its pixel size per
    level; the others, and the offset (the cutout's plus an OME-Zarr input's), the whole."""
    resolution, axis_units, origin = metadata.resolution, metadata.axis_units, metadata.origin
    factors = [[full / n for full, n in zip(levels[0], shape)] for shape in levels]
    downscaled = {a for i, a in enumerate(OME_AXES) if a != "c" and any(f[i] != 1 for f in factors)}
    scaled = set(downscaled)
    inputs = metadata.input_scales
    if inputs is not None:
        shapes = list(inputs.shapes.values())
        scaled |= {a for i, a in enumerate(inputs.axes) if a != "c" and any(s[i] != shapes[0][i] for s in shapes)}
    # vigra's "unknown" resolution 0 counts as 1, as in ilastik's _get_tagged_resolution
    pixel = {a: float(resolution.get(a) or 1.0) if a != "c" else 1.0 for a in OME_AXES}
    axes = [{"name": a, "type": _AXIS_TYPES[a], **({"unit": ngff_unit(axis_units[a])} if axis_units.get(a) else {})}
            for a in OME_AXES]
    datasets = [{"path": name, "coordinateTransformations": [
        {"type": "scale", "scale": [f * (pixel[a] if a in scaled else 1.0) for a, f in zip(OME_AXES, level_factors)]}]}
        for name, level_factors in zip(names, factors)]
    entry: dict = {"axes": axes, "datasets": datasets, "version": NGFF_VERSION}
    transformations = []
    unscaled = [pixel[a] if a not in scaled else 1.0 for a in OME_AXES]
    offset = inputs.translation if inputs is not None else {}
    translation = [origin.get(a, 0) * pixel[a] + offset.get(a, 0.0) for a in OME_AXES]
    if any(v != 1 for v in unscaled) or any(translation):
        transformations.append({"type": "scale", "scale": unscaled})
    if any(translation):
        transformations.append({"type": "translation", "translation": translation})
    if transformations:
        entry["coordinateTransformations"] = transformations
    if downscaled:
        entry["metadata"] = {
            "description": "Computed as ilastik's OME-Zarr export does (lazyflow OpResize, a blockwise "
                           "skimage.transform.resize): Gaussian smoothing with sigma = factor / 4 (none for labels), "
                           "then interpolation at the centres of the source pixels.",
            "method": "skimage.transform.resize",
            "kwargs": {"order": order, "anti_aliasing": order == LINEAR, "preserve_range": True},
        }
    return entry


def _write_json(path: str, content: dict) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(content, file, indent=4)
