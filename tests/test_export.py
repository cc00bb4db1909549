"""pixelserve.export against hand-computed expectations of ilastik's headless export, with
every file read back by an independent reader (h5py, tifffile, Pillow, numpy)."""

from __future__ import annotations

import json
import os
import re

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import apply_export
from pixelserve.errors import UserError
from pixelserve.export import (
    ExportSettings,
    InMemoryResult,
    SliceIndex,
    export_result,
    format_path,
    parse_tuple_list,
)
from pixelserve.export.hdf5_writer import ilastik_chunk_shape, vigra_axistags_json

NAMES = {"dataset_dir": "/data/set", "nickname": "img", "result_type": "Probabilities"}

# Formats holding a whole result in one file; the 2D-only and sequence formats have their
# own round trips in test_export_formats.py.
VOLUME_FORMATS = ("hdf5", "compressed hdf5", "tif", "tiff", "png", "numpy")


def settings(**kwargs) -> ExportSettings:
    return ExportSettings(**kwargs)


def convert(array, axes, default="yxc", **kwargs):
    return apply_export(np.asarray(array), axes, settings(**kwargs), default_axis_order=default)


def export(tmp_path, array, axes, *, default=None, name="{nickname}_{result_type}", placeholders=None, **kwargs):
    source = array if isinstance(array, InMemoryResult) else InMemoryResult(array, axes)
    s = settings(output_filename_format=str(tmp_path / name), **kwargs)
    return export_result(source, s, placeholders or dict(NAMES), default_axis_order=default or source.axes, threads=2)


# --- command-line lists and settings -------------------------------------------------------


def test_parse_tuple_list_follows_ilastik_syntax():
    assert parse_tuple_list("[(0,0,0,0), (10,20,None,2)]") == ((0, 0, 0, 0), (10, 20, None, 2))
    assert parse_tuple_list("(0.0, 1.0)") == (0.0, 1.0)
    assert parse_tuple_list("[0, 255]") == (0, 255)
    with pytest.raises(UserError, match="Could not read"):
        parse_tuple_list("[(0,0), (1,")
    with pytest.raises(UserError, match="Expected a list"):
        parse_tuple_list("5")


def test_validated_checks_and_normalises():
    s = settings(output_axis_order="TZYXC", export_dtype=np.uint8,
                 pipeline_result_drange=(np.float32(0.0), np.float64(1.0)), export_drange="(0,255)").validated()
    assert s.output_axis_order == "tzyxc" and s.export_dtype == "uint8"
    assert s.pipeline_result_drange == (0.0, 1.0) and type(s.pipeline_result_drange[0]) is float
    assert s.export_drange == (0, 255) and type(s.export_drange[1]) is int
    assert settings(output_axis_order="").validated().output_axis_order is None
    assert settings(cutout_subregion="[(0,None),(5,None)]").validated().cutout_subregion == ((0, None), (5, None))


@pytest.mark.parametrize("kwargs, message", [
    ({"export_drange": (0, 255)}, "needs --pipeline_result_drange"),
    ({"output_format": "jpeg2000"}, "choose one of 'hdf5', 'compressed hdf5', 'tif', 'tiff', 'png', 'numpy'"),
    ({"export_dtype": "float16"}, "choose one of uint8, uint16, uint32, uint64, int8"),
    ({"output_axis_order": "yxq"}, "use only the axis keys"),
    ({"output_axis_order": "yxy"}, "names an axis twice"),
    ({"output_filename_format": "/tmp/{nickname"}, "not a valid template"),
    ({"output_internal_path": ""}, "needs a dataset name"),
    ({"pipeline_result_drange": (0.0, 1.0, 2.0)}, "two numbers"),
    ({"cutout_subregion": ((0.5, 0), (2, 2))}, "integers or None"),
    ({"cutout_subregion": ((0, 0), (2, 2, 2))}, "start has 2 values but stop has 3"),
])
def test_validated_refuses_bad_settings(kwargs, message):
    with pytest.raises(UserError, match=re.escape(message)):
        settings(**kwargs).validated()


# --- subregion -----------------------------------------------------------------------------

IMAGE = np.arange(4 * 5 * 2, dtype=np.uint16).reshape(4, 5, 2)  # yxc


def test_cutout_with_none_entries():
    result, axes = convert(IMAGE, "yxc", cutout_subregion=((1, None, None), (3, 4, None)))
    assert axes == "yxc"
    np.testing.assert_array_equal(result, IMAGE[1:3, 0:4, 0:2])


def test_cutout_stop_zero_means_full_extent_like_ilastik():
    # ilastik takes `stop or extent`, so 0 selects everything along that axis
    result, _ = convert(IMAGE, "yxc", cutout_subregion=((1, 1, 0), (0, 3, 1)))
    np.testing.assert_array_equal(result, IMAGE[1:4, 1:3, 0:1])


def test_cutout_is_clipped_with_a_warning():
    with pytest.warns(UserWarning, match="clipping it to"):
        result, _ = convert(IMAGE, "yxc", cutout_subregion=((-2, 3, 0), (10, 99, 2)))
    np.testing.assert_array_equal(result, IMAGE[0:4, 3:5, :])


@pytest.mark.parametrize("cutout, message", [
    (((3, 0, 0), (1, 5, 2)), "selects nothing along axis y"),
    (((0, 0), (2, 2)), "give one value per axis in the order yxc"),
])
def test_cutout_refusals(cutout, message):
    with pytest.raises(UserError, match=message):
        convert(IMAGE, "yxc", cutout_subregion=cutout)


# --- dtype and data range ------------------------------------------------------------------


def test_export_dtype_is_a_plain_cast():
    result, _ = convert(np.array([[[0.2], [1.7], [2.5], [255.9]]], np.float32), "yxc", export_dtype="uint8")
    np.testing.assert_array_equal(result.ravel(), [0, 1, 2, 255])  # truncation, no rounding
    result, _ = convert(np.array([[[-1], [300]]], np.int16), "yxc", export_dtype="uint8")
    np.testing.assert_array_equal(result.ravel(), [255, 44])  # wraps, no clipping
    assert result.dtype == np.uint8
    result, _ = convert(IMAGE, "yxc")
    assert result.dtype == np.uint16  # default: the source dtype


def drange(values, dtype_in, drange_in, drange_out, dtype_out):
    array = np.array(values, dtype_in).reshape(1, -1, 1)
    result, _ = convert(array, "yxc", pipeline_result_drange=drange_in, export_drange=drange_out, export_dtype=dtype_out)
    assert result.dtype == np.dtype(dtype_out)
    return result.ravel().tolist()


def test_drange_float_to_int_rounds_half_to_even():
    # 0.5*255 = 127.5 -> 128; 0.25*255 = 63.75 -> 64; 0.75*255 = 191.25 -> 191
    assert drange([0.0, 0.5, 1.0, 0.25, 0.75], np.float32, (0.0, 1.0), (0, 255), "uint8") == [0, 128, 255, 64, 191]


def test_drange_does_not_clip():
    # 1.2 -> 306 and -0.1 -> -25.5 stay outside (0, 255)
    assert drange([1.2, -0.1], np.float64, (0.0, 1.0), (0.0, 255.0), "float64") == pytest.approx([306.0, -25.5])
    assert drange([1.2], np.float32, (0.0, 1.0), (0, 255), "uint16") == [306]


def test_drange_int_to_int_truncates():
    # ratio float32(255/65535) = 0.00389105; 1000 -> 3.89 -> 3; 30000 -> 116.73 -> 116
    assert drange([0, 1000, 30000], np.uint16, (0, 65535), (0, 255), "uint8") == [0, 3, 116]


def test_drange_offsets_and_zero_spread():
    ratio = float(np.float32(0.1))  # ilastik's ratio is float32: 0.10000000149...
    assert drange([10, 15, 25, 5], np.float64, (10, 20), (0.0, 1.0), "float64") == [0.0, 5 * ratio, 15 * ratio, -5 * ratio]
    assert drange([0.1, 0.9], np.float32, (0.5, 0.5), (7, 9), "uint8") == [7, 7]  # ratio 0


def test_drange_follows_numpy1_arithmetic_like_ilastik():
    # ilastik runs numpy < 2: uint8 - 10 stays uint8 and wraps (5 -> 251) ...
    assert drange([5, 200], np.uint8, (10, 20), (0, 10), "float32") == [251.0, 190.0]
    # ... while uint8 - (-1) is computed in int16 (numpy 2 would raise)
    assert drange([0, 255], np.uint8, (-1, 255), (0, 256), "uint16") == [1, 256]


def test_pipeline_drange_alone_is_ignored():
    result, _ = convert(np.array([[[0.5]]], np.float32), "yxc", pipeline_result_drange=(0.0, 1.0), export_dtype="uint8")
    assert result.ravel().tolist() == [0]


# --- axis order ----------------------------------------------------------------------------


def test_axis_order_transposes_inserts_and_drops_singletons():
    data = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)  # yxc, one channel
    result, axes = convert(data, "yxc", output_axis_order="xy")
    assert axes == "xy"
    np.testing.assert_array_equal(result, data[:, :, 0].T)
    result, axes = convert(data, "yxc", output_axis_order="tzyxc")
    assert axes == "tzyxc" and result.shape == (1, 1, 2, 3, 1)
    np.testing.assert_array_equal(result[0, 0], data)
    result, axes = convert(data, "yxc", default="zyxc")  # the caller's default order
    assert axes == "zyxc" and result.shape == (1, 2, 3, 1)


def test_axis_order_moves_channels():
    data = np.arange(12, dtype=np.uint8).reshape(2, 3, 2)
    result, axes = convert(data, "yxc", output_axis_order="cyx")
    np.testing.assert_array_equal(result, data.transpose(2, 0, 1))
    result, _ = convert(data[:, :, 0], "yx", output_axis_order="yxc")
    assert result.shape == (2, 3, 1)


def test_axis_order_refuses_dropping_data_but_not_after_a_cutout():
    data = np.zeros((2, 3, 2), np.uint8)
    with pytest.raises(UserError, match="leaves out axis 'c', but the result has 2 values"):
        convert(data, "yxc", output_axis_order="yx")
    result, axes = convert(data, "yxc", output_axis_order="yx", cutout_subregion=((0, 0, 1), (None, None, 2)))
    assert axes == "yx" and result.shape == (2, 3)


def test_apply_export_returns_a_copy():
    data = np.zeros((2, 3, 1), np.float32)
    result, _ = convert(data, "yxc")
    assert not np.shares_memory(result, data) and result.flags.c_contiguous


# --- placeholders and file names -----------------------------------------------------------


def test_format_path_placeholders():
    values = {**NAMES, "x_start": 7, "slice_index": SliceIndex(5, 0, 100), "input_paths": ["/a.h5"]}
    assert format_path("{dataset_dir}/{nickname}_{result_type}", values) == "/data/set/img_Probabilities"
    assert format_path("x{x_start:04d}_{slice_index}", values) == "x0007_005"
    assert format_path("{foo}_{foo:>3}_{input_paths}_{nickname!r}", values) == "{foo}_{foo:>3}_{input_paths}_img"
    assert format_path("a{{b}}", values) == "a{b}"
    with pytest.raises(UserError, match="not a valid template"):
        format_path("{nickname", values)


def test_slice_index_padding_follows_ilastik():
    # digits of (offset + count), not of the largest index: 100 slices -> 3 digits
    assert format(SliceIndex(5, 0, 64), "") == "05"
    assert format(SliceIndex(5, 0, 99), "") == "05"
    assert format(SliceIndex(5, 0, 100), "") == "005"
    assert format(SliceIndex(5, 10, 95), "") == "005"
    assert format(SliceIndex(5, 0, 100), "d") == "5"


def test_roi_and_axis_placeholders_in_the_file_name(tmp_path):
    data = np.zeros((200, 150, 2), np.uint8)  # yxc
    name = "r{roi}_y{y_start}-{y_stop}_x{x_start}-{x_stop}_c{c_start}-{c_stop}_t{t_start}-{t_stop}_z{z_start}"
    [path] = export(tmp_path, data, "yxc", name=name, output_format="numpy", output_axis_order="tyxc",
                    cutout_subregion=((None, 10, None), (128, 138, None)))
    # {roi} in the source's axis order; t exists only in the output order (0/1); z nowhere (kept)
    assert os.path.basename(path) == "r[(0, 10, 0), (128, 138, 2)]_y0-128_x10-138_c0-2_t0-1_z{z_start}.npy"
    assert np.load(path).shape == (1, 128, 128, 2)


@pytest.mark.parametrize("output_format, template, expected", [
    ("hdf5", "out.tif", "out.h5"),
    ("compressed hdf5", "out", "out.h5"),
    ("tif", "out.h5", "out.tif"),
    ("tiff", "out", "out.tiff"),
    ("png", "out.png", "out.png"),
    ("numpy", "out.v1.data", "out.v1.npy"),
    ("numpy", "{nickname}_{result_type}", "cells.npy"),  # ilastik cuts at the nickname's dot too
])
def test_extension_handling(tmp_path, output_format, template, expected):
    [path] = export(tmp_path, np.zeros((3, 4, 1), np.uint8), "yxc", name=template, output_format=output_format,
                    placeholders={"nickname": "cells.v2", "result_type": "Probabilities"})
    assert path == str(tmp_path / expected) and os.path.exists(path)


# --- formats, read back independently ------------------------------------------------------


def test_hdf5_layout_and_metadata(tmp_path):
    data = np.random.default_rng(0).random((3, 20, 30, 2), dtype=np.float32)
    source = InMemoryResult(data, "zyxc", block_shape=(1, 8, 8, 2), drange=(0.0, 1.0), display_mode="grayscale")
    s = settings(output_filename_format=str(tmp_path / "o"), output_internal_path="volume/{nickname}",
                 output_axis_order="tzyxc", export_dtype="uint8", pipeline_result_drange=(0.0, 1.0), export_drange=(0, 255))
    [path] = export_result(source, s, dict(NAMES), default_axis_order="zyxc", threads=3,
                           resolution={"z": 2.0, "y": 0.5, "x": 0.5}, axis_units={"x": "um"})
    expected = np.rint(data * np.float32(255)).astype(np.uint8)[np.newaxis]
    with h5py.File(path, "r") as f:
        d = f["volume/img"]
        np.testing.assert_array_equal(d[()], expected)
        assert d.compression == "gzip" and d.compression_opts == 1
        assert d.chunks == ilastik_chunk_shape(d.shape, "tzyxc", 1)
        assert [dim.label for dim in d.dims] == list("tzyxc")
        assert d.attrs["drange"].tolist() == [0, 255] and d.attrs["drange"].dtype == np.uint8
        assert d.attrs["display_mode"] == "grayscale"
        assert json.loads(d.attrs["axis_units"]) == {"x": "um"}
        tags = json.loads(d.attrs["axistags"])["axes"]
    assert [(t["key"], t["typeFlags"], t["resolution"]) for t in tags] == [
        ("t", 8, 0), ("z", 2, 2.0), ("y", 2, 0.5), ("x", 2, 0.5), ("c", 1, 0)]


def test_axistags_text_matches_vigra():
    # the exact text of ilastik's files (see e.g. the *_Probabilities.h5 fixtures)
    assert vigra_axistags_json("yc", {"y": 0.1}) == (
        '{\n  "axes": [\n    {\n      "key": "y",\n      "typeFlags": 2,\n      "resolution": 0.10000000000000001,\n'
        '      "description": ""\n    },\n    {\n      "key": "c",\n      "typeFlags": 1,\n      "resolution": 0,\n'
        '      "description": ""\n    }\n  ]\n}')


def test_chunk_shape_follows_ilastik():
    # 512000/4 = 128000 values; c first (1), then y: round(sqrt(128000)) = 358, then x: 128000//358 = 357
    assert ilastik_chunk_shape((1024, 1344, 2), "yxc", 4) == (358, 357, 1)
    # t, c -> 1; z: min(round(512000**(1/3)) = 80, 10) = 10; y: round(sqrt(51200)) = 226; x: 51200//226 -> 226
    assert ilastik_chunk_shape((5, 10, 1000, 1000, 3), "tzyxc", 1) == (1, 10, 226, 226, 1)


def test_hdf5_uncompressed_and_other_datasets_survive(tmp_path):
    path = tmp_path / "o.h5"
    with h5py.File(path, "w") as f:
        f["other"] = np.arange(3)
        f["exported_data"] = np.zeros(1)
    [written] = export(tmp_path, IMAGE, "yxc", name="o", output_format="hdf5")
    with h5py.File(written, "r") as f:
        assert sorted(f) == ["exported_data", "other"] and f["other"][()].tolist() == [0, 1, 2]
        np.testing.assert_array_equal(f["exported_data"][()], IMAGE)
        assert f["exported_data"].compression is None
        assert "drange" not in f["exported_data"].attrs


def test_tif_is_an_imagej_hyperstack(tmp_path):
    data = np.random.default_rng(1).random((2, 3, 10, 12, 2), dtype=np.float32)  # tzyxc
    [path] = export(tmp_path, InMemoryResult(data, "tzyxc", block_shape=(1, 2, 5, 5, 1)), "tzyxc", output_format="tif")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and tif.series[0].axes == "TZCYX"
        assert tif.imagej_metadata["channels"] == 2 and tif.imagej_metadata["slices"] == 3
        np.testing.assert_array_equal(tif.asarray(), data.transpose(0, 1, 4, 2, 3))


def test_tif_calibration_rgb_and_plain_tiff(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (4, 10, 12, 3), dtype=np.uint8)  # zyxc
    s = settings(output_filename_format=str(tmp_path / "rgb"), output_format="tiff")
    [path] = export_result(InMemoryResult(rgb, "zyxc"), s, {}, default_axis_order="zyxc",
                           resolution={"z": 3.0, "y": 0.25, "x": 0.5}, axis_units={"x": "um"})
    assert path.endswith("rgb.tiff")
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and tif.series[0].axes == "ZYXS"
        assert tif.imagej_metadata["spacing"] == 3.0 and tif.imagej_metadata["unit"] == "um"
        assert tif.pages[0].tags["XResolution"].value == (2, 1) and tif.pages[0].tags["YResolution"].value == (4, 1)
        np.testing.assert_array_equal(tif.asarray(), rgb)
    wide = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)  # ImageJ has no float64
    [path] = export(tmp_path, wide, "zyx", name="wide", output_format="tif")
    with tifffile.TiffFile(path) as tif:
        assert not tif.is_imagej and tif.is_shaped and tif.series[0].axes == "TZCYX"
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK and len(tif.pages) == 2
        np.testing.assert_array_equal(tif.asarray().reshape(2, 3, 4), wide)


def test_png_gray_rgb_16bit_and_orientation(tmp_path):
    gray = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6, 1)
    [path] = export(tmp_path, gray, "yxc", name="gray", output_format="png", output_axis_order="xyc")
    image = Image.open(path)
    assert image.mode == "L" and image.size == (6, 4)  # y rows, x columns whatever the axis order
    np.testing.assert_array_equal(np.asarray(image), gray[:, :, 0])
    rgb = np.random.default_rng(3).integers(0, 255, (1, 5, 7, 3), dtype=np.uint8)  # zyxc, one slice
    [path] = export(tmp_path, rgb, "zyxc", name="rgb", output_format="png")
    image = Image.open(path)
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), rgb[0])
    deep = np.array([[[0], [1000], [65535]]], np.uint16)
    [path] = export(tmp_path, deep, "yxc", name="deep", output_format="png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)).astype(np.uint16), deep[:, :, 0])


def test_png_of_one_slice_of_a_volume(tmp_path):
    volume = np.random.default_rng(4).random((5, 6, 7, 1), dtype=np.float32)
    [path] = export(tmp_path, volume, "zyxc", output_format="png", cutout_subregion=((2, 0, 0, 0), (3, 6, 7, 1)),
                    export_dtype="uint8", pipeline_result_drange=(0.0, 1.0), export_drange=(0, 255))
    np.testing.assert_array_equal(np.asarray(Image.open(path)), np.rint(volume[2, :, :, 0] * np.float32(255)).astype(np.uint8))


def test_png_refuses_3d_and_floats_with_the_fix(tmp_path):
    with pytest.raises(UserError) as error:
        export(tmp_path, np.zeros((4, 5, 6, 1), np.uint8), "zyxc", output_format="png")
    assert str(error.value) == ("png holds 2D images but the result is 3D (z=4, y=5, x=6): "
                                "use --output_format 'tif' or 'compressed hdf5', or 'png sequence' "
                                "with {slice_index} in --output_filename_format for one file per slice")
    with pytest.raises(UserError) as error:
        export(tmp_path, np.zeros((5, 6, 2), np.float32), "yxc", output_format="png")
    assert str(error.value) == ("png cannot hold float32: add --export_dtype uint8 "
                                "--pipeline_result_drange '(0.0,1.0)' --export_drange '(0,255)'")
    with pytest.raises(UserError, match="1 to 4 channels of uint8 but the result has 5"):
        export(tmp_path, np.zeros((5, 6, 5), np.uint8), "yxc", output_format="png")
    assert os.listdir(tmp_path) == []


def test_numpy_round_trip(tmp_path):
    data = np.random.default_rng(5).random((2, 9, 11, 3)).astype(np.float32)
    [path] = export(tmp_path, InMemoryResult(data, "zyxc", block_shape=(1, 4, 4, 3)), "zyxc", output_format="numpy",
                    output_axis_order="czyx")
    np.testing.assert_array_equal(np.load(path), data.transpose(3, 0, 1, 2))


# --- blockwise pipeline and safety ---------------------------------------------------------


@pytest.mark.parametrize("output_format", VOLUME_FORMATS)
def test_blockwise_export_equals_apply_export(tmp_path, output_format):
    data = np.random.default_rng(6).random((3, 37, 41, 2), dtype=np.float32)
    options = dict(cutout_subregion=((1, 3, None, None), (None, 35, 40, None)), export_dtype="uint8",
                   pipeline_result_drange=(0.0, 1.0), export_drange=(0, 255), output_axis_order="zxyc")
    if output_format == "png":
        options["cutout_subregion"] = ((1, 3, None, None), (2, 35, 40, None))
    expected, axes = convert(data, "zyxc", default="zyxc", **options)
    calls = []
    source = InMemoryResult(data, "zyxc", block_shape=(1, 10, 7, 2))
    s = settings(output_filename_format=str(tmp_path / "out"), output_format=output_format, **options)
    [path] = export_result(source, s, {}, default_axis_order="zyxc", threads=4, progress=lambda d, t: calls.append((d, t)))
    total = int(np.prod(expected.shape))
    assert calls[0] == (0, total) and calls[-1] == (total, total) and len(calls) > 3
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    if output_format.endswith("hdf5"):
        with h5py.File(path, "r") as f:
            written = f["exported_data"][()]
    elif output_format in ("tif", "tiff"):
        written = tifffile.imread(path).transpose(0, 3, 2, 1)  # file Z C Y X -> output z x y c
    elif output_format == "png":
        written = np.asarray(Image.open(path)).transpose(1, 0, 2)[np.newaxis]  # y x c -> z x y c
    else:
        written = np.load(path)
    np.testing.assert_array_equal(written, expected)


class FailingSource(InMemoryResult):
    """Raises on the third block it is asked for."""

    def __init__(self, array, axes, error):
        super().__init__(array, axes, block_shape=(4, 4, 1))
        self.error, self.calls = error, 0

    def compute(self, start, stop):
        self.calls += 1
        if self.calls == 3:
            raise self.error
        return super().compute(start, stop)


@pytest.mark.parametrize("output_format", VOLUME_FORMATS)
@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_midway_leaves_nothing(tmp_path, output_format, error):
    data = np.zeros((16, 16, 1), np.uint8)
    s = settings(output_filename_format=str(tmp_path / "new" / "deeper" / "out"), output_format=output_format)
    with pytest.raises(type(error)):
        export_result(FailingSource(data, "yxc", error), s, {}, default_axis_order="yxc", threads=1)
    assert os.listdir(tmp_path) == []  # no file, no temp file, no folder left behind


def test_failure_keeps_an_existing_output(tmp_path):
    with h5py.File(tmp_path / "out.h5", "w") as f:
        f["exported_data"] = np.arange(3)
    s = settings(output_filename_format=str(tmp_path / "out"))
    with pytest.raises(RuntimeError):
        export_result(FailingSource(np.zeros((16, 16, 1), np.uint8), "yxc", RuntimeError("x")), s, {},
                      default_axis_order="yxc", threads=2)
    assert os.listdir(tmp_path) == ["out.h5"]
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert f["exported_data"][()].tolist() == [0, 1, 2]


def test_output_equal_to_input_is_refused(tmp_path):
    raw = tmp_path / "raw.tif"
    tifffile.imwrite(raw, np.zeros((4, 5), np.uint8))
    with pytest.raises(UserError, match="would overwrite its input"):
        export(tmp_path, IMAGE, "yxc", name="raw", output_format="tif", placeholders={"input_paths": [str(raw)]})
    h5 = tmp_path / "raw.h5"
    with h5py.File(h5, "w") as f:
        f["raw"] = np.zeros((4, 5, 2), np.uint16)
    with pytest.raises(UserError, match="would overwrite its input"):
        export(tmp_path, IMAGE, "yxc", name="raw", output_internal_path="raw", placeholders={"input_paths": [f"{h5}/raw"]})
    # another dataset in the input's file is allowed, as in ilastik, and the input survives
    export(tmp_path, IMAGE, "yxc", name="raw", placeholders={"input_paths": [f"{h5}/raw"]})
    with h5py.File(h5, "r") as f:
        assert sorted(f) == ["exported_data", "raw"]


def test_missing_folders_are_created(tmp_path):
    [path] = export(tmp_path, IMAGE, "yxc", name="a/b/c/{nickname}", output_format="numpy")
    assert path == str(tmp_path / "a" / "b" / "c" / "img.npy")
    np.testing.assert_array_equal(np.load(path), IMAGE)


def test_unfilled_ilastik_names_are_refused_other_unknowns_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"uses \{dataset_dir\} but this export has no value"):
        export_result(InMemoryResult(IMAGE, "yxc"), settings(), {}, default_axis_order="yxc")
    [path] = export(tmp_path, IMAGE, "yxc", name="{custom}_{nickname}", output_format="numpy")
    assert os.path.basename(path) == "{custom}_img.npy"
    assert os.listdir(tmp_path) == ["{custom}_img.npy"]


def test_source_drange_is_cast_into_the_metadata(tmp_path):
    source = InMemoryResult(np.full((2, 3, 1), 0.5, np.float32), "yxc", drange=(0.0, 1.0))
    [path] = export(tmp_path, source, "yxc", export_dtype="uint8")
    with h5py.File(path, "r") as f:
        # no normalisation: the range goes through the same plain cast as the data
        assert f["exported_data"].attrs["drange"].tolist() == [0, 1]
        assert f["exported_data"][()].ravel().tolist() == [0] * 6
