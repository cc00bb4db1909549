"""pixelserve.io: every input format, ilastik's path/axes/nickname conventions, lazy reads, errors."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from pixelserve.errors import UserError
from pixelserve.io import AXES, Dataset, guess_axes, list_datasets, open_dataset, split_internal_path


def ramp(shape, dtype=np.uint8):
    return (np.arange(int(np.prod(shape))) % 251).astype(dtype).reshape(shape)


def axistags_json(keys: str, resolution=None) -> str:
    flags = {"c": 1, "t": 8}
    resolution = resolution or {}
    return json.dumps({"axes": [{"key": k, "typeFlags": flags.get(k, 2), "resolution": resolution.get(k, 0),
                                 "description": ""} for k in keys]})


# ---------------------------------------------------------------------------------------------
# ilastik's conventions as pure functions

@pytest.mark.parametrize("shape, axes", [
    ((10, 20), "yx"), ((10, 20, 30), "zyx"), ((10, 20, 4), "yxc"), ((10, 20, 5), "zyx"),
    ((10, 20, 30, 3), "zyxc"), ((5, 10, 20, 20, 3), "tzyxc"),
])
def test_guess_axes_follows_ilastik_defaults(shape, axes):
    assert guess_axes(shape) == axes
    assert set(axes) <= set(AXES)


def test_guess_axes_rejects_unsupported_dimensions():
    with pytest.raises(UserError, match="2D to 5D"):
        guess_axes((1, 2, 3, 4, 5, 6))


@pytest.mark.parametrize("spec, expected", [
    ("/a/file.h5/volume/data", ("/a/file.h5", "volume/data")),
    ("/a/file.h5", ("/a/file.h5", None)),
    ("/a/file.h5/", ("/a/file.h5", None)),
    ("rel/file.hdf5/data", ("rel/file.hdf5", "data")),
    ("proj.ilp/Input Data/local_data/abc", ("proj.ilp", "Input Data/local_data/abc")),
    ("arr.npz/member", ("arr.npz", "member")),
    ("vol.n5/setup0/s0", ("vol.n5", "setup0/s0")),
    ("/p/file.h5_with_duplicate_ext.h5", ("/p/file.h5_with_duplicate_ext.h5", None)),  # ilastik's own test case
    ("/x/a.n5/b.h5/data", ("/x/a.n5/b.h5", "data")),  # last container extension wins
    ("/x/a.h5.png", ("/x/a.h5.png", None)),  # only an extension that ends a path component counts
    ("/x/runs.h5old/img.png", ("/x/runs.h5old/img.png", None)),
    ("/x/IMG.H5/data", ("/x/IMG.H5", "data")),
    ("inputdata\\2d3c.h5\\data", ("inputdata/2d3c.h5", "data")),  # project saved on Windows
    ("img.png", ("img.png", None)),
])
def test_split_internal_path(spec, expected):
    assert split_internal_path(spec) == expected


def test_nickname_rules(tmp_path):
    for name in ["img_000.png", "img_001.png", "img_002.png"]:
        Image.fromarray(ramp((6, 7))).save(tmp_path / name)
    with h5py.File(tmp_path / "vol.h5", "w") as f:
        f["volume/data"] = ramp((4, 5))
    assert open_dataset(str(tmp_path / "img_001.png")).nickname == "img_001"
    assert open_dataset(str(tmp_path / "img_*.png")).nickname == "img_00"  # common prefix, no extension
    listed = open_dataset(os.pathsep.join([str(tmp_path / "img_002.png"), str(tmp_path / "img_000.png")]))
    assert listed.nickname == "img_00"
    assert open_dataset(str(tmp_path / "vol.h5")).nickname == "vol"  # auto-picked dataset: not in the name
    explicit = open_dataset(str(tmp_path / "vol.h5/volume/data"))
    assert explicit.nickname == "vol-volume-data"
    assert explicit.internal_path == "volume/data"
    assert explicit.paths == [str(tmp_path / "vol.h5")]
    assert explicit.expanded_paths == [str(tmp_path / "vol.h5") + "/volume/data"]


def test_nickname_of_files_without_common_name_is_the_folder(tmp_path):
    for name in ["a.png", "b.png"]:
        Image.fromarray(ramp((6, 7))).save(tmp_path / name)
    data = open_dataset(os.pathsep.join([str(tmp_path / "b.png"), str(tmp_path / "a.png")]))
    assert data.nickname == tmp_path.name
    assert data.paths == [str(tmp_path / "a.png"), str(tmp_path / "b.png")]  # sorted like ilastik


# ---------------------------------------------------------------------------------------------
# TIFF

def test_tiff_single_page_and_rgb(tmp_path):
    gray, rgb = ramp((30, 40), np.uint16), ramp((30, 40, 3))
    tifffile.imwrite(tmp_path / "gray.tif", gray, metadata=None)
    tifffile.imwrite(tmp_path / "rgb.tiff", rgb, photometric="rgb", metadata=None)
    data = open_dataset(str(tmp_path / "gray.tif"))
    assert (data.shape, data.dtype, data.axes, data.axes_from_file) == ((30, 40), np.uint16, "yx", True)
    assert np.array_equal(data.read(), gray)
    assert np.array_equal(data.read((slice(3, 9), slice(10, 12))), gray[3:9, 10:12])
    data = open_dataset(str(tmp_path / "rgb.tiff"))
    assert (data.shape, data.axes) == ((30, 40, 3), "yxc")
    assert np.array_equal(data.read((slice(5, 7),)), rgb[5:7])


def test_tiff_plain_multipage_is_a_page_sequence(tmp_path):
    pages = ramp((4, 20, 30))
    images = [Image.fromarray(p) for p in pages]
    images[0].save(tmp_path / "pages.tif", save_all=True, append_images=images[1:])
    data = open_dataset(str(tmp_path / "pages.tif"))
    # tifffile calls the page axis 'I'; ilastik maps it to 't', a convention rather than file metadata.
    assert (data.shape, data.axes, data.axes_from_file) == ((4, 20, 30), "tyx", False)
    assert np.array_equal(data.read((slice(1, 3), slice(2, 5))), pages[1:3, 2:5])


def test_tiff_shaped_without_axes_uses_the_guess(tmp_path):
    volume = ramp((6, 20, 30))
    tifffile.imwrite(tmp_path / "vol.tif", volume)  # tifffile's own 'shaped' metadata: axes unknown (Q)
    data = open_dataset(str(tmp_path / "vol.tif"))
    assert (data.shape, data.axes, data.axes_from_file) == ((6, 20, 30), "zyx", False)
    assert np.array_equal(data.read((slice(2, 4),)), volume[2:4])


def test_imagej_hyperstack_axes_and_calibration(tmp_path):
    stack = ramp((3, 4, 2, 16, 20), np.uint16)  # TZCYX
    tifffile.imwrite(tmp_path / "hyper.tif", stack, imagej=True, resolution=(1 / 0.25, 1 / 0.25),
                     metadata={"axes": "TZCYX", "spacing": 1.5, "unit": "micron", "finterval": 2.0})
    data = open_dataset(str(tmp_path / "hyper.tif"))
    assert (data.axes, data.shape, data.axes_from_file) == ("tzcyx", stack.shape, True)
    assert data.resolution == {"x": (0.25, "micron"), "y": (0.25, "micron"), "z": (1.5, "micron"), "t": (2.0, "")}
    region = (slice(1, 2), slice(0, 4), slice(1, 2), slice(3, 9), slice(0, 5))
    assert np.array_equal(data.read(region), stack[region])


def test_imagej_rgb_samples_become_channels(tmp_path):
    rgb = ramp((5, 12, 14, 3))
    tifffile.imwrite(tmp_path / "rgb_stack.tif", rgb, imagej=True, photometric="rgb", metadata={"axes": "ZYXS"})
    data = open_dataset(str(tmp_path / "rgb_stack.tif"))
    assert (data.axes, data.shape) == ("zyxc", rgb.shape)
    assert np.array_equal(data.read((slice(4, 5),)), rgb[4:5])


def test_ome_tiff_resolution(tmp_path):
    volume = ramp((3, 10, 12))
    tifffile.imwrite(tmp_path / "cells.ome.tif", volume, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0,
        "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm", "PhysicalSizeZUnit": "µm"})
    data = open_dataset(str(tmp_path / "cells.ome.tif"))
    assert (data.axes, data.axes_from_file, data.nickname) == ("zyx", True, "cells.ome")
    assert data.resolution == {"x": (0.5, "µm"), "y": (0.5, "µm"), "z": (2.0, "µm")}


def test_compressed_tiled_tiff_reads_regions(tmp_path):
    image = ramp((3, 96, 80), np.uint16)
    tifffile.imwrite(tmp_path / "tiled.tif", image, tile=(32, 32), compression="zlib", photometric="minisblack",
                     metadata={"axes": "ZYX"})
    data = open_dataset(str(tmp_path / "tiled.tif"))
    assert data._source._memmap() is None  # compressed: read through the tile-aware zarr view
    region = (slice(1, 3), slice(30, 70), slice(5, 41))
    assert np.array_equal(data.read(region), image[region])


# ---------------------------------------------------------------------------------------------
# Pillow formats

def test_png_gray_is_yxc_with_one_channel_like_ilastik(tmp_path):
    gray = ramp((20, 30))
    Image.fromarray(gray).save(tmp_path / "gray.png")
    data = open_dataset(str(tmp_path / "gray.png"))
    # ilastik (vigra impex) always gives 2D images a channel axis; projects store shape (h, w, 1).
    assert (data.shape, data.dtype, data.axes, data.axes_from_file) == ((20, 30, 1), np.uint8, "yxc", True)
    assert np.array_equal(data.read()[..., 0], gray)
    assert np.array_equal(data.read((slice(2, 5), slice(7, 8))), gray[2:5, 7:8, None])


@pytest.mark.parametrize("mode, channels", [("RGB", 3), ("RGBA", 4), ("LA", 2)])
def test_png_colour_modes(tmp_path, mode, channels):
    array = ramp((12, 9, channels))
    Image.fromarray(array, mode=mode).save(tmp_path / "c.png")
    data = open_dataset(str(tmp_path / "c.png"))
    assert (data.shape, data.axes) == ((12, 9, channels), "yxc")
    assert np.array_equal(data.read(), array)


def test_palette_png_is_expanded_to_rgb_or_rgba(tmp_path):
    indices = (ramp((8, 10)) % 4).astype(np.uint8)
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 12)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette)
    image.save(tmp_path / "pal.png")
    image.save(tmp_path / "pal_alpha.png", transparency=0)
    rgb = open_dataset(str(tmp_path / "pal.png"))
    assert rgb.shape == (8, 10, 3)
    expected = np.array(palette[:12], np.uint8).reshape(4, 3)[indices]
    assert np.array_equal(rgb.read(), expected)
    rgba = open_dataset(str(tmp_path / "pal_alpha.png"))
    assert rgba.shape == (8, 10, 4)
    assert np.array_equal(rgba.read()[..., 3], np.where(indices == 0, 0, 255))


def test_sixteen_bit_png_keeps_its_precision(tmp_path):
    import imagecodecs

    gray = (ramp((10, 12), np.uint16) * 200).astype(np.uint16)
    Image.fromarray(gray).save(tmp_path / "g16.png")
    rgb = (ramp((10, 12, 3), np.uint16) * 250).astype(np.uint16)
    (tmp_path / "rgb16.png").write_bytes(imagecodecs.png_encode(rgb))
    data = open_dataset(str(tmp_path / "g16.png"))
    assert (data.dtype, data.shape) == (np.uint16, (10, 12, 1))
    assert np.array_equal(data.read()[..., 0], gray)
    data = open_dataset(str(tmp_path / "rgb16.png"))
    assert (data.dtype, data.shape) == (np.uint16, (10, 12, 3))
    assert np.array_equal(data.read(), rgb)


def test_jpeg_bmp_gif(tmp_path):
    rgb = ramp((16, 24, 3))
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=95)
    Image.fromarray(rgb).save(tmp_path / "bitmap.bmp")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.gif")
    assert open_dataset(str(tmp_path / "photo.jpg")).shape == (16, 24, 3)
    bmp = open_dataset(str(tmp_path / "bitmap.bmp"))
    assert np.array_equal(bmp.read(), rgb)
    gif = open_dataset(str(tmp_path / "gray.gif"))
    assert gif.axes == "yxc" and gif.shape[:2] == (16, 24)


def test_multiframe_gif_is_zyxc(tmp_path):
    frames = [Image.fromarray(np.full((6, 8), 40 * i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    data = open_dataset(str(tmp_path / "anim.gif"))
    assert data.axes == "zyxc" and data.shape[:3] == (3, 6, 8)
    assert data.read((slice(2, 3),)).shape[:3] == (1, 6, 8)


# ---------------------------------------------------------------------------------------------
# HDF5, npy/npz

def test_hdf5_axistags_resolution_and_guess(tmp_path):
    volume = ramp((4, 10, 12, 2), np.float32)
    with h5py.File(tmp_path / "tagged.h5", "w") as f:
        f["exported_data"] = volume
        f["exported_data"].attrs["axistags"] = axistags_json("zyxc", {"z": 2.0, "x": 0.5})
    with h5py.File(tmp_path / "plain.hdf5", "w") as f:
        f.create_dataset("raw", data=volume[..., 0], chunks=(1, 5, 6), compression="gzip")
    data = open_dataset(str(tmp_path / "tagged.h5"))
    assert (data.axes, data.axes_from_file, data.dtype, data.internal_path) == ("zyxc", True, np.float32, "exported_data")
    assert data.resolution == {"z": (2.0, ""), "x": (0.5, "")}
    assert np.array_equal(data.read((slice(1, 2), slice(3, 7))), volume[1:2, 3:7])
    plain = open_dataset(str(tmp_path / "plain.hdf5/raw"))
    assert (plain.axes, plain.axes_from_file, plain.resolution) == ("zyx", False, {})
    assert np.array_equal(plain.read((slice(None), slice(9, 10))), volume[:, 9:10, :, 0])


def test_hdf5_neuroglancer_axes_attribute_is_reversed(tmp_path):
    with h5py.File(tmp_path / "ng.h5", "w") as f:
        f["data"] = ramp((3, 4, 5))
        f["data"].attrs["axes"] = ["x", "y", "t"]  # fastest axis first
    assert open_dataset(str(tmp_path / "ng.h5")).axes == "tyx"


def test_hdf5_internal_path_errors(tmp_path):
    with h5py.File(tmp_path / "many.h5", "w") as f:
        f["a/raw"] = ramp((4, 5))
        f["b/probabilities"] = ramp((4, 5, 2))
        f["meta/vector"] = np.arange(3)  # 1D: never offered as an image
    with pytest.raises(UserError, match=r"holds 2 datasets \(a/raw, b/probabilities\).*many\.h5/a/raw"):
        open_dataset(str(tmp_path / "many.h5"))
    with pytest.raises(UserError, match=r"has no dataset 'a/missing'; it holds: a/raw, b/probabilities, meta/vector"):
        open_dataset(str(tmp_path / "many.h5/a/missing"))
    with pytest.raises(UserError, match="1 dimensions"):
        open_dataset(str(tmp_path / "many.h5/meta/vector"))
    assert list_datasets(str(tmp_path / "many.h5")) == ["a/raw", "b/probabilities", "meta/vector"]
    with h5py.File(tmp_path / "single.h5", "w") as f:
        f["only/one"] = ramp((4, 5))
        f["scalar"] = 3.0
    assert open_dataset(str(tmp_path / "single.h5")).internal_path == "only/one"


def test_hdf5_internal_glob_stacks_datasets(tmp_path):
    with h5py.File(tmp_path / "series.h5", "w") as f:
        for t in range(3):
            f[f"frames/t{t}"] = np.full((4, 5), t, np.uint8)
    data = open_dataset(str(tmp_path / "series.h5/frames/t*"), stack_along="t")
    assert (data.axes, data.shape, data.internal_path) == ("tyx", (3, 4, 5), None)
    assert data.nickname == "series-frames-t"
    assert data.paths == [str(tmp_path / "series.h5")]
    assert [v for v in data.read()[:, 0, 0]] == [0, 1, 2]


def test_npy_is_memory_mapped_and_picklable(tmp_path):
    volume = ramp((8, 9, 10, 1))
    np.save(tmp_path / "vol.npy", volume)
    data = open_dataset(str(tmp_path / "vol.npy"))
    assert (data.axes, data.axes_from_file, data.nickname) == ("zyxc", False, "vol")
    part = data.read((slice(2, 4), slice(1, 3)))
    assert type(part) is np.ndarray and np.array_equal(part, volume[2:4, 1:3])
    clone = pickle.loads(pickle.dumps(data))
    assert len(pickle.dumps(data)) < volume.nbytes  # cached memory map is not pickled
    assert np.array_equal(clone.read((slice(7, 8),)), volume[7:8])


def test_npz_members(tmp_path):
    np.savez(tmp_path / "arrays.npz", raw=ramp((5, 6)), mask=ramp((5, 6)) > 9)
    data = open_dataset(str(tmp_path / "arrays.npz/raw"))
    assert (data.shape, data.axes, data.nickname) == ((5, 6), "yx", "arrays-raw")
    assert np.array_equal(data.read(), ramp((5, 6)))
    with pytest.raises(UserError, match="holds 2 datasets"):
        open_dataset(str(tmp_path / "arrays.npz"))


# ---------------------------------------------------------------------------------------------
# N5 and zarr

def write_n5_dataset(root: Path, name: str, array: np.ndarray, block: tuple[int, ...], compression: str,
                     skip_blocks=(), **attributes):
    """Write an N5 dataset by hand: F-order metadata, big-endian blocks with the N5 header."""
    root.mkdir(exist_ok=True)
    (root / "attributes.json").write_text(json.dumps({"n5": "2.5.0"}))
    folder = root / name
    folder.mkdir(parents=True)
    meta = {"dimensions": list(reversed(array.shape)), "blockSize": list(reversed(block)),
            "dataType": array.dtype.name, "compression": {"type": compression}, **attributes}
    (folder / "attributes.json").write_text(json.dumps(meta))
    grid = [range(0, s, b) for s, b in zip(array.shape, block)]
    for origin in np.ndindex(*[len(g) for g in grid]):
        if origin in skip_blocks:
            continue
        start = [o * b for o, b in zip(origin, block)]
        piece = array[tuple(slice(s, s + b) for s, b in zip(start, block))]
        header = struct.pack(">HH", 0, piece.ndim) + struct.pack(f">{piece.ndim}I", *reversed(piece.shape))
        payload = piece.astype(piece.dtype.newbyteorder(">")).tobytes()
        payload = gzip.compress(payload) if compression == "gzip" else payload
        target = folder.joinpath(*(str(i) for i in reversed(origin)))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(header + payload)


@pytest.mark.parametrize("compression", ["raw", "gzip"])
def test_n5_blocks_edges_and_missing_blocks(tmp_path, compression):
    volume = (ramp((5, 11, 13), np.uint16) + 1).astype(np.uint16)
    write_n5_dataset(tmp_path / "vol.n5", "setup0/s0", volume, (2, 4, 5), compression,
                     skip_blocks={(1, 1, 1)}, axes=["x", "y", "z"])
    expected = volume.copy()
    expected[2:4, 4:8, 5:10] = 0  # an absent block reads as zeros
    data = open_dataset(str(tmp_path / "vol.n5/setup0/s0"))
    assert (data.shape, data.dtype, data.axes, data.axes_from_file) == ((5, 11, 13), np.uint16, "zyx", True)
    assert data.nickname == "vol-setup0-s0"
    assert np.array_equal(data.read(), expected)
    region = (slice(1, 5), slice(3, 11), slice(4, 13))
    assert np.array_equal(data.read(region), expected[region])
    assert list_datasets(str(tmp_path / "vol.n5")) == ["setup0/s0"]
    assert open_dataset(str(tmp_path / "vol.n5")).internal_path == "setup0/s0"  # the only dataset


def test_n5_without_axes_guesses(tmp_path):
    image = ramp((9, 7, 3), np.float32)
    write_n5_dataset(tmp_path / "img.n5", "data", image, (4, 4, 3), "gzip")
    data = open_dataset(str(tmp_path / "img.n5/data"))
    assert (data.axes, data.axes_from_file) == ("yxc", False)
    assert np.array_equal(data.read(), image)


def test_zarr_array_group_and_ome_multiscale(tmp_path):
    zarr = pytest.importorskip("zarr")
    image = ramp((6, 20, 24))
    group = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    group.create_array("raw", shape=image.shape, chunks=(2, 8, 8), dtype=image.dtype)[...] = image
    data = open_dataset(str(tmp_path / "plain.zarr/raw"))
    assert (data.axes, data.nickname) == ("zyx", "plain-raw")
    assert np.array_equal(data.read((slice(1, 3), slice(5, 17))), image[1:3, 5:17])
    assert open_dataset(str(tmp_path / "plain.zarr")).internal_path == "raw"

    ome = zarr.open_group(str(tmp_path / "cells.ome.zarr"), mode="w")
    ome.create_array("s0", shape=image.shape, chunks=(2, 8, 8), dtype=image.dtype)[...] = image
    ome.create_array("s1", shape=(6, 10, 12), chunks=(2, 8, 8), dtype=image.dtype)[...] = image[:, ::2, ::2]
    axes = [{"name": "z", "type": "space", "unit": "micrometer"}, {"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"}]
    ome.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [
        {"path": "s0", "coordinateTransformations": [{"type": "scale", "scale": [2.0, 0.5, 0.5]}]},
        {"path": "s1", "coordinateTransformations": [{"type": "scale", "scale": [2.0, 1.0, 1.0]}]}]}]
    full = open_dataset(str(tmp_path / "cells.ome.zarr/s0"))
    assert (full.shape, full.axes, full.axes_from_file) == (image.shape, "zyx", True)
    assert full.resolution == {"z": (2.0, "micrometer"), "y": (0.5, "micrometer"), "x": (0.5, "micrometer")}
    # Like ilastik, an OME-Zarr without a named scale opens at its lowest resolution.
    assert open_dataset(str(tmp_path / "cells.ome.zarr")).shape == (6, 10, 12)


# ---------------------------------------------------------------------------------------------
# Stacks

def test_png_glob_stacks_along_z_and_c(tmp_path):
    slices = ramp((4, 10, 12, 3))
    for i, image in enumerate(slices):
        Image.fromarray(image).save(tmp_path / f"slice_{i:02d}.png")
    along_z = open_dataset(str(tmp_path / "slice_*.png"))
    assert (along_z.shape, along_z.axes) == ((4, 10, 12, 3), "zyxc")  # z is prepended
    assert np.array_equal(along_z.read(), slices)
    assert len(along_z.paths) == 4 and along_z.paths == sorted(along_z.paths)
    along_c = open_dataset(str(tmp_path / "slice_*.png"), stack_along="c")
    assert (along_c.shape, along_c.axes) == ((10, 12, 12), "yxc")  # files have c: concatenated
    assert np.array_equal(along_c.read(), np.concatenate(list(slices), axis=-1))
    assert np.array_equal(along_c.read((slice(2, 4), slice(None), slice(4, 8))),
                          np.concatenate(list(slices), axis=-1)[2:4, :, 4:8])


def test_stack_concatenates_existing_axis_with_different_sizes(tmp_path):
    first, second = ramp((3, 5, 6)), ramp((2, 5, 6)) + 100
    np.save(tmp_path / "part_a.npy", first)
    np.save(tmp_path / "part_b.npy", second)
    data = open_dataset(os.pathsep.join([str(tmp_path / "part_b.npy"), str(tmp_path / "part_a.npy")]))
    assert (data.shape, data.axes) == ((5, 5, 6), "zyx")
    both = np.concatenate([first, second])
    assert np.array_equal(data.read(), both)
    assert np.array_equal(data.read((slice(2, 4),)), both[2:4])


def test_stack_reads_only_the_files_a_region_touches(tmp_path):
    for i in range(5):
        tifffile.imwrite(tmp_path / f"t{i}.tif", np.full((8, 9), i, np.uint8), metadata=None)
    data = open_dataset(str(tmp_path / "t*.tif"), stack_along="t")
    assert data.axes == "tyx"
    reads = []
    for member, path in zip(data._source.members, data.paths):
        original = member.read
        member.read = lambda region, _orig=original, _path=path: reads.append(_path) or _orig(region)
    assert data.read((slice(2, 4), slice(0, 3))).tolist() == [[[2] * 9] * 3, [[3] * 9] * 3]
    assert reads == [str(tmp_path / "t2.tif"), str(tmp_path / "t3.tif")]


def test_stack_with_mismatched_file_names_the_file(tmp_path):
    Image.fromarray(ramp((10, 12))).save(tmp_path / "s0.png")
    Image.fromarray(ramp((10, 12))).save(tmp_path / "s1.png")
    Image.fromarray(ramp((11, 12))).save(tmp_path / "s2.png")
    with pytest.raises(UserError, match=r"Cannot stack .*s2\.png onto .*s0\.png: its shape is \(11, 12, 1\)"):
        open_dataset(str(tmp_path / "s*.png"))
    np.save(tmp_path / "s3.npy", ramp((10, 12)))
    with pytest.raises(UserError, match="mixes file types"):
        open_dataset(os.pathsep.join([str(tmp_path / "s0.png"), str(tmp_path / "s3.npy")]))


def test_h5_files_stack_with_their_internal_path(tmp_path):
    (tmp_path / "runs").mkdir()
    for name in ["a", "b"]:
        with h5py.File(tmp_path / "runs" / f"{name}.h5", "w") as f:
            f["data"] = ramp((4, 5))
            f["data"].attrs["axistags"] = axistags_json("yx")
    data = open_dataset(str(tmp_path / "runs/*.h5/data"))
    assert (data.axes, data.shape, data.internal_path, data.axes_from_file) == ("zyx", (2, 4, 5), "data", True)
    assert data.nickname == "runs-data"  # ilastik: common prefix '/…/runs/' -> its last component


# ---------------------------------------------------------------------------------------------
# Paths, axes overrides, regions, errors

def test_relative_paths_resolve_against_base_dir(tmp_path):
    (tmp_path / "inputs").mkdir()
    np.save(tmp_path / "inputs" / "vol.npy", ramp((3, 4, 5)))
    data = open_dataset("inputs/vol.npy", base_dir=str(tmp_path))
    assert data.paths == [str(tmp_path / "inputs" / "vol.npy")]


def test_missing_files_say_which_folder_exists(tmp_path):
    with pytest.raises(UserError, match=r"Input file not found: .*nope\.png \(the folder .* exists but holds no such file\)"):
        open_dataset(str(tmp_path / "nope.png"))
    with pytest.raises(UserError, match=r"absent.*does not exist either"):
        open_dataset(str(tmp_path / "absent" / "x.h5/data"))
    with pytest.raises(UserError, match=r"No file matches .*\*\.png"):
        open_dataset(str(tmp_path / "*.png"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        open_dataset(str(tmp_path / "folder"))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="'.txt' is not a supported image format"):
        open_dataset(str(tmp_path / "notes.txt"))
    with pytest.raises(UserError, match="Invalid stack axis"):
        open_dataset(str(tmp_path / "notes.txt"), stack_along="q")


def test_explicit_axes_override_and_mismatch(tmp_path):
    volume = ramp((3, 10, 12))
    tifffile.imwrite(tmp_path / "cal.tif", volume, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "spacing": 3.0, "unit": "micron"})
    data = open_dataset(str(tmp_path / "cal.tif"), axes="TYX")
    assert (data.axes, data.axes_from_file, data.resolution) == ("tyx", True, {})
    same = open_dataset(str(tmp_path / "cal.tif"), axes="zyx")
    assert same.resolution["z"] == (3.0, "micron")  # unchanged axes keep the calibration
    with pytest.raises(UserError, match=r"3 dimensions .* but 2 axes were given"):
        open_dataset(str(tmp_path / "cal.tif"), axes="yx")
    with pytest.raises(UserError, match="only the letters"):
        open_dataset(str(tmp_path / "cal.tif"), axes="zyq")
    with pytest.raises(UserError, match="must include y and x"):
        open_dataset(str(tmp_path / "cal.tif"), axes="tzc")
    np.save(tmp_path / "guess.npy", ramp((4, 5, 6)))
    assert open_dataset(str(tmp_path / "guess.npy"), axes="cyx").axes_from_file is True


def test_region_normalisation(tmp_path):
    np.save(tmp_path / "v.npy", ramp((4, 5, 6)))
    data = open_dataset(str(tmp_path / "v.npy"))
    assert isinstance(data, Dataset) and data.ndim == 3
    assert data.read((slice(None), slice(-2, None))).shape == (4, 2, 6)
    assert data.read((slice(3, 99),)).shape == (1, 5, 6)
    assert data.read((slice(2, 2),)).shape == (0, 5, 6)
    with pytest.raises(ValueError, match="step 1"):
        data.read((slice(0, 4, 2),))


# ---------------------------------------------------------------------------------------------
# ilastik's own test data

def fixtures_folder() -> Path:
    folder = Path(os.environ.get("PIXELSERVE_FIXTURES", Path(__file__).resolve().parents[1] / ".." / "shared"
                                 / "fixtures" / "ilastik"))
    if not (folder / "inputdata").is_dir():
        pytest.skip(f"ilastik fixtures not found at {folder} (set PIXELSERVE_FIXTURES to the folder "
                    "holding inputdata/ and api_projects.zip)")
    return folder


ILASTIK_INPUTS = {  # file -> (shape, axes) as ilastik's stored projects and axistags give them
    "2d.h5": ((1024, 1344), "yx"), "2d3c.h5": ((73, 187, 3), "yxc"), "3d.h5": ((50, 60, 55), "zyx"),
    "3d2c.h5": ((50, 60, 55, 2), "zyxc"), "5t2d1c.h5": ((5, 33, 77, 1), "tyxc"),
    "2d_Probabilities.h5": ((1024, 1344, 2), "yxc"), "3d_Probabilities.h5": ((50, 60, 55, 2), "zyxc"),
    "5t2d1c_Probabilities.h5": ((5, 33, 77, 2), "tyxc"),
}


def test_ilastik_inputdata_h5():
    folder = fixtures_folder() / "inputdata"
    for name, (shape, axes) in ILASTIK_INPUTS.items():
        data = open_dataset(str(folder / name))
        assert (data.shape, data.axes) == (shape, axes), name
        assert data.nickname == name[:-3]
        with h5py.File(folder / name, "r") as f:
            stored = f[data.internal_path][:2]
        assert np.array_equal(data.read((slice(0, 2),)), stored)
    # Files from the old project layout, opened as those projects name them (relative to the project).
    data = open_dataset("inputdata/2d3c.h5/data", base_dir=str(folder.parent))
    assert (data.nickname, data.axes) == ("2d3c-data", "yxc")


def test_ilastik_api_project_inputs_match_the_projects(api_projects):
    for project, role_path in [("PixelClass3Channel.ilp", "Data_3channel.png"), ("PixelClass3D.ilp", "Data_3D.npy"),
                               ("Autocontext_2D.ilp", "Data_1channel.png")]:
        with h5py.File(api_projects / project, "r") as f:
            info = f["Input Data/infos/lane0000/Raw Data"]
            stored_shape = tuple(int(s) for s in info["shape"][()])
            stored_axes = "".join(a["key"] for a in json.loads(info["axistags"][()])["axes"])
            file_path = info["filePath"][()].decode()
        data = open_dataset(file_path, base_dir=str(api_projects))
        assert (data.shape, data.axes, data.nickname) == (stored_shape, stored_axes, Path(role_path).stem), project
        assert data.read((slice(0, 3),)).shape[0] == 3


def test_a_damaged_file_is_a_clear_user_error(tmp_path):
    """The header is whole, the pixels are cut short: the message says so and what to do."""
    from pixelserve.errors import UserError

    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.arange(200 * 200, dtype=np.uint16).reshape(200, 200))
    path.write_bytes(path.read_bytes()[:30000])
    dataset = open_dataset(str(path))
    with pytest.raises(UserError, match="damaged or incomplete.*copy or export it again"):
        dataset.read()
