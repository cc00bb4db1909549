"""The hdr, xv and ras images (read back with ImageMagick), 'multipage tiff sequence' (tifffile),
and the n5, compressed n5 and zarr containers (z5py and zarr), each also read back through
pixelserve.io.open_dataset and written once through the command line."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from conftest import apply_export
from pixelserve.errors import UserError
from pixelserve.export import OUTPUT_FORMATS, ExportMetadata, ExportSettings, InMemoryResult, export_result
from pixelserve.export.chunk_assembly import ChunkAssembler
from pixelserve.export.hdf5_writer import ilastik_chunk_shape
from pixelserve.export.n5_writer import CompressedN5Writer
from pixelserve.headless.cli import main
from pixelserve.io import open_dataset
from pixelserve.io.axes import vigra_axistags_json
from pixelserve.synthetic import cells_image

try:
    import z5py  # the independent N5 reader (the 'test' extra)
except ImportError:
    z5py = None

needs_z5py = pytest.mark.skipif(z5py is None, reason="z5py (an independent N5 reader, in the 'test' extra) is missing")
TO_UINT8 = dict(export_dtype="uint8", pipeline_result_drange=(0.0, 1.0), export_drange=(0, 255))
RNG = np.random.default_rng(23)


def export(tmp_path, data, axes, output_format, name="out", block_shape=None, **options):
    source = data if isinstance(data, InMemoryResult) else InMemoryResult(
        data, axes, block_shape=block_shape or (3,) * len(axes), drange=(0.0, 1.0) if data.dtype.kind == "f" else None,
        display_mode="probabilities" if data.dtype.kind == "f" else None)
    s = ExportSettings(output_format=output_format, output_filename_format=str(tmp_path / name), **options)
    return export_result(source, s, {}, default_axis_order=source.axes, threads=2)


def expected(data, axes, **options):
    return apply_export(data, axes, ExportSettings(**options), default_axis_order=axes)[0]


def test_every_format_of_ilastik_is_registered():
    for name in ("hdr", "xv", "ras", "hdr sequence", "xv sequence", "ras sequence", "multipage tiff sequence",
                 "n5", "compressed n5", "zarr", "dvid"):
        assert name in OUTPUT_FORMATS


# --- hdr, xv, ras through ImageMagick -------------------------------------------------------


def _find_imagemagick() -> str | None:
    """A real ImageMagick: a `convert` early on PATH may be a stand-in, so ask each candidate."""
    candidates = ["magick", "convert-im6.q16", "convert-im7.q16"]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidates.append(os.path.join(folder, "convert"))
    for candidate in candidates:
        program = shutil.which(candidate)
        if not program:
            continue
        try:
            version = subprocess.run([program, "-version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        if "ImageMagick" in version:
            return program
    return None


@pytest.fixture(scope="module")
def magick() -> str:
    program = _find_imagemagick()
    if program is None:
        pytest.skip("ImageMagick is not installed (it reads the hdr/xv/ras files back): apt-get install imagemagick, "
                    "or run scripts/setup_env.sh with EXTRAS=test")
    return program


def magick_info(magick, path) -> str:
    """ImageMagick's name of the format and the size, e.g. 'SUN 7 5'."""
    return subprocess.run([magick, str(path), "-format", "%m %w %h", "info:-"], capture_output=True, text=True,
                          check=True).stdout.strip()


def magick_read(magick, path, rows, columns, channels) -> np.ndarray:
    """8-bit pixels as ImageMagick decodes them (rows x columns [x 3])."""
    kind = "gray" if channels == 1 else "rgb"
    out = subprocess.run([magick, str(path), "-depth", "8", f"{kind}:-"], capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape((rows, columns) if channels == 1 else (rows, columns, 3))


def magick_read_float(magick, path, rows, columns) -> np.ndarray:
    """Linear RGB floats of an HDR file ('-set colorspace sRGB' keeps ImageMagick from gamma-encoding
    the linear values on output)."""
    out = subprocess.run([magick, str(path), "-set", "colorspace", "sRGB", "-define", "quantum:format=floating-point",
                          "-depth", "32", "rgb:-"], capture_output=True, check=True).stdout
    return np.frombuffer(out, np.float32).reshape(rows, columns, 3)


def test_ras_probabilities_and_labels(tmp_path, magick):
    probabilities = RNG.random((5, 7, 1), dtype=np.float32)  # odd width: rows padded to an even byte count
    [path] = export(tmp_path, probabilities, "yxc", "ras", **TO_UINT8)
    assert path == str(tmp_path / "out.ras")
    assert magick_info(magick, path) == "SUN 7 5"
    np.testing.assert_array_equal(magick_read(magick, path, 5, 7, 1), expected(probabilities, "yxc", **TO_UINT8)[..., 0])

    labels = RNG.integers(0, 4, (1, 6, 9, 1)).astype(np.uint8)
    [path] = export(tmp_path, labels, "zyxc", "ras", name="labels", output_axis_order="cxyz")
    np.testing.assert_array_equal(magick_read(magick, path, 6, 9, 1), labels[0, :, :, 0])  # rows are y


def test_ras_rgb(tmp_path, magick):
    rgb = RNG.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    [path] = export(tmp_path, rgb, "yxc", "ras")
    np.testing.assert_array_equal(magick_read(magick, path, 4, 5, 3), rgb)  # stored BGR, read back RGB


def test_xv_uint8_probabilities_labels_and_rgb(tmp_path, magick):
    probabilities = RNG.random((6, 8, 1), dtype=np.float32)
    [path] = export(tmp_path, probabilities, "yxc", "xv", **TO_UINT8)
    assert magick_info(magick, path) == "VIFF 8 6"
    np.testing.assert_array_equal(magick_read(magick, path, 6, 8, 1), expected(probabilities, "yxc", **TO_UINT8)[..., 0])
    rgb = RNG.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    [path] = export(tmp_path, rgb, "yxc", "xv", name="rgb")
    np.testing.assert_array_equal(magick_read(magick, path, 6, 8, 3), rgb)


@pytest.mark.parametrize("dtype", ["int16", "int32", "float32", "float64"])
def test_xv_other_dtypes_through_imagemagick(tmp_path, magick, dtype):
    # ImageMagick 6 stretches non-byte VIFF data from its min..max to 0..65535 and then keeps
    # only the low byte; with min 0 and max 255 that is the value itself (255 * 257 = 65535).
    values = RNG.integers(0, 256, (5, 6)).astype(dtype)
    values[0, 0], values[0, 1] = 0, 255
    [path] = export(tmp_path, values, "yx", "xv")
    np.testing.assert_array_equal(magick_read(magick, path, 5, 6, 1), values.astype(np.uint8))


def read_viff(path) -> np.ndarray:
    """A minimal VIFF reader for the tests (bands x rows x columns), from the Khoros header layout."""
    raw = Path(path).read_bytes()
    assert raw[0] == 0xAB and raw[1] == 1  # VIFF magic, image file
    order = "<" if raw[4] in (0x4, 0x8) else ">"
    field = lambda offset: struct.unpack_from(order + "I", raw, offset)[0]  # noqa: E731
    columns, rows, bands, storage = field(520), field(524), field(560), field(564)
    assert field(568) == 0 and field(572) == 0  # raw data, no colour map
    dtype = {1: "u1", 2: "i2", 4: "i4", 5: "f4", 9: "f8"}[storage]
    return np.frombuffer(raw[1024:], order + dtype).reshape(bands, rows, columns)


@pytest.mark.parametrize("dtype, channels", [("float32", 2), ("float64", 1), ("int16", 5), ("uint8", 3)])
def test_xv_keeps_dtype_and_any_band_count(tmp_path, dtype, channels):
    data = (RNG.random((4, 7, channels)) * 200 - 50).astype(dtype)
    [path] = export(tmp_path, data, "yxc", "xv")
    written = read_viff(path)
    assert written.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(written, data.transpose(2, 0, 1))


def test_hdr_rgb_and_gray_probabilities(tmp_path, magick):
    rgb = RNG.random((5, 9, 3), dtype=np.float32)
    [path] = export(tmp_path, rgb, "yxc", "hdr")
    assert magick_info(magick, path) == "HDR 9 5"
    written = magick_read_float(magick, path, 5, 9)
    # RGBE keeps 8 mantissa bits relative to the brightest of the three values
    assert (np.abs(written - rgb) <= rgb.max(axis=2, keepdims=True) / 128 + 1e-4).all()

    gray = RNG.random((6, 4, 1), dtype=np.float32)
    gray[0, 0] = 0.0
    [path] = export(tmp_path, gray, "yxc", "hdr", name="gray")
    written = magick_read_float(magick, path, 6, 4)
    np.testing.assert_array_equal(written[..., 0], written[..., 1])  # replicated to R = G = B
    np.testing.assert_array_equal(written[..., 0], written[..., 2])
    assert (np.abs(written[..., 0] - gray[..., 0]) <= gray[..., 0] / 128 + 1e-4).all()
    assert written[0, 0, 0] == 0


def test_hdr_label_values_survive_exactly(tmp_path, magick):
    # small integers have at most 8 significant bits: RGBE holds them exactly
    labels = RNG.integers(0, 4, (5, 6)).astype(np.uint8)
    [path] = export(tmp_path, labels, "yx", "hdr", export_dtype="float32")
    written = magick_read_float(magick, path, 5, 6)  # ImageMagick Q16 clips to 0..1 on reading
    np.testing.assert_array_equal(written[..., 0], np.minimum(labels, 1).astype(np.float32))
    raw = Path(path).read_bytes()
    header_end = raw.index(b"\n-Y 5 +X 6\n") + len(b"\n-Y 5 +X 6\n")
    rgbe = np.frombuffer(raw[header_end:], np.uint8).reshape(5, 6, 4)
    decoded = np.where(rgbe[..., 3] > 0, rgbe[..., 0] * np.ldexp(1.0, rgbe[..., 3].astype(int) - 136), 0.0)
    np.testing.assert_array_equal(decoded, labels)


@pytest.mark.parametrize("output_format, data, axes, message", [
    ("hdr", np.zeros((5, 6), np.uint8), "yx", r"^hdr holds float32 but the result is uint8: add --export_dtype float32$"),
    ("hdr", np.zeros((5, 6, 2), np.float32), "yxc", r"^hdr holds 1 or 3 channels of float32 but the result has 2: use"),
    ("hdr", np.zeros((3, 5, 6), np.float32), "zyx", r"^hdr holds 2D images but the result is 3D"),
    ("xv", np.zeros((5, 6), np.uint16), "yx",
     r"^xv holds uint8 or int16 or int32 or float32 or float64 but the result is uint16: add --export_dtype int32$"),
    ("ras", np.zeros((5, 6), np.float32), "yx", r"^ras cannot hold float32: add --export_dtype uint8 --pipeline_result"),
    ("ras", np.zeros((5, 6), np.int16), "yx", r"^ras holds uint8 but the result is int16: add --export_dtype uint8 if"),
    ("ras", np.zeros((5, 6, 2), np.uint8), "yxc", r"^ras holds 1 or 3 channels of uint8 but the result has 2: use"),
])
def test_raster_refusals_name_the_fix(tmp_path, output_format, data, axes, message):
    with pytest.raises(UserError, match=message):
        export(tmp_path, data, axes, output_format)
    assert os.listdir(tmp_path) == []


def test_hdr_refuses_negative_values(tmp_path):
    with pytest.raises(UserError, match=r"^hdr \(Radiance RGBE\) holds values from 0 to 1.7e38 but the result "
                                        r"has values outside that range \(negative"):
        export(tmp_path, np.full((4, 5), -0.5, np.float32), "yx", "hdr")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("output_format", ["hdr", "xv", "ras"])
def test_raster_sequences(tmp_path, magick, output_format):
    data = RNG.random((11, 4, 6, 1), dtype=np.float32)
    options = {} if output_format == "hdr" else TO_UINT8
    paths = export(tmp_path, data, "zyxc", f"{output_format} sequence", name="seq/z{slice_index}", **options)
    assert paths == [str(tmp_path / "seq" / f"z{i:02d}.{output_format}") for i in range(11)]
    assert sorted(os.listdir(tmp_path / "seq")) == sorted(os.path.basename(p) for p in paths)
    wanted = expected(data, "zyxc", **options)[..., 0]
    for i, path in enumerate(paths):
        if output_format == "hdr":
            assert (np.abs(magick_read_float(magick, path, 4, 6)[..., 0] - wanted[i]) <= wanted[i] / 128 + 1e-4).all()
        else:
            np.testing.assert_array_equal(magick_read(magick, path, 4, 6, 1), wanted[i])


# --- multipage tiff sequence ----------------------------------------------------------------


def test_multipage_tiff_sequence_one_file_per_time_point(tmp_path):
    data = RNG.random((3, 4, 5, 6, 2), dtype=np.float32)  # t z y x c
    paths = export(tmp_path, data, "tzyxc", "multipage tiff sequence", name="mp/t{slice_index}", **TO_UINT8)
    assert paths == [str(tmp_path / "mp" / f"t{i}.tiff") for i in range(3)]
    wanted = expected(data, "tzyxc", **TO_UINT8)
    for i, path in enumerate(paths):
        with tifffile.TiffFile(path) as tif:
            assert len(tif.pages) == 4 * 2  # one page per z and c
            assert tif.is_imagej
            np.testing.assert_array_equal(tif.asarray(), wanted[i].transpose(0, 3, 1, 2))  # ImageJ order z c y x


def test_multipage_tiff_sequence_steps_along_the_first_nonsingleton_axis(tmp_path):
    # zyxc with c > 1 has 4 non-singleton axes: one file per z, each holding the channels as pages
    data = RNG.integers(0, 9, (5, 4, 6, 3)).astype(np.uint16)
    paths = export(tmp_path, data, "zyxc", "multipage tiff sequence", name="z_{slice_index}",
                   cutout_subregion=((2, 0, 0, 0), (5, 4, 6, 3)))
    assert [os.path.basename(p) for p in paths] == ["z_2.tiff", "z_3.tiff", "z_4.tiff"]  # numbered from the start
    for i, path in enumerate(paths):
        np.testing.assert_array_equal(tifffile.imread(path), data[2 + i].transpose(2, 0, 1))
    # c first in the output order: one single-channel zyx stack per channel
    paths = export(tmp_path, data, "zyxc", "multipage tiff sequence", name="c_{slice_index}", output_axis_order="czyx")
    assert [os.path.basename(p) for p in paths] == ["c_0.tiff", "c_1.tiff", "c_2.tiff"]
    for i, path in enumerate(paths):
        np.testing.assert_array_equal(tifffile.imread(path), data[..., i])


def test_multipage_tiff_sequence_refusals(tmp_path):
    with pytest.raises(UserError, match=r"needs 4 non-singleton axes, or 5 with c not first, but the result has "
                                        r"z=3, y=4, x=5: use --output_format 'multipage tiff'$"):
        export(tmp_path, np.zeros((3, 4, 5), np.uint8), "zyx", "multipage tiff sequence", name="s{slice_index}")
    with pytest.raises(UserError, match=r"but the result has c=2, t=2, z=3, y=4, x=5: use --output_format 'tif'"):
        export(tmp_path, np.zeros((2, 3, 4, 5, 2), np.uint8), "tzyxc", "multipage tiff sequence",
               name="s{slice_index}", output_axis_order="ctzyx")
    with pytest.raises(UserError, match=r"must contain \{slice_index\}"):
        export(tmp_path, np.zeros((2, 3, 4, 5), np.uint8), "tzyx", "multipage tiff sequence", name="s")
    assert os.listdir(tmp_path) == []


class FailingSource(InMemoryResult):
    def __init__(self, array, axes, fail_at, block_shape):
        super().__init__(array, axes, block_shape=block_shape)
        self.fail_at, self.calls = fail_at, 0

    def compute(self, start, stop):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return super().compute(start, stop)


def test_failed_multipage_tiff_sequence_leaves_nothing(tmp_path):
    source = FailingSource(np.zeros((4, 3, 8, 8), np.uint8), "tzyx", fail_at=12, block_shape=(1, 3, 4, 4))
    with pytest.raises(RuntimeError):
        export(tmp_path, source, "tzyx", "multipage tiff sequence", name="new/{slice_index}")
    assert os.listdir(tmp_path) == []


# --- n5 and zarr ----------------------------------------------------------------------------

def n5_attributes(path) -> dict:
    return json.loads((Path(path) / "attributes.json").read_text())


@needs_z5py
@pytest.mark.parametrize("output_format, compression", [("n5", "raw"), ("compressed n5", "gzip")])
def test_n5_probabilities_as_ilastik_writes_them(tmp_path, output_format, compression):
    data = RNG.random((9, 70, 61, 2), dtype=np.float32)
    [path] = export(tmp_path, data, "zyxc", output_format, block_shape=(4, 32, 32, 2))
    assert path == str(tmp_path / "out.n5")
    dataset = z5py.File(path, "r")["exported_data"]
    assert dataset.dtype == np.float32 and dataset.shape == data.shape
    assert dataset.chunks == ilastik_chunk_shape(data.shape, "zyxc", 4)
    np.testing.assert_array_equal(dataset[:], data)
    attributes = n5_attributes(Path(path) / "exported_data")  # as stored: x first
    assert attributes["dimensions"] == [2, 61, 70, 9]
    assert attributes["compression"]["type"] == compression
    if compression == "gzip":
        assert attributes["compression"]["level"] == 1
    assert attributes["axistags"] == vigra_axistags_json("zyxc")  # the HDF5 text, in C order
    assert attributes["axes"] == ["c", "x", "y", "z"]
    assert attributes["drange"] == [0.0, 1.0] and attributes["display_mode"] == "probabilities"
    assert n5_attributes(path)["n5"].startswith("2.")

    dataset = open_dataset(f"{path}/exported_data")
    assert dataset.axes == "zyxc" and dataset.axes_from_file
    np.testing.assert_array_equal(dataset.read(), data)


@needs_z5py
def test_n5_labels_converted_and_reordered(tmp_path):
    probabilities = RNG.random((30, 40, 3), dtype=np.float32)
    labels = (probabilities.argmax(axis=2)[..., None] + 1).astype(np.uint8)
    [path] = export(tmp_path, labels, "yxc", "compressed n5", name="seg", output_axis_order="cxy",
                    output_internal_path="results/segmentation")
    dataset = z5py.File(path, "r")["results/segmentation"]
    assert dataset.dtype == np.uint8
    np.testing.assert_array_equal(dataset[:], labels.transpose(2, 1, 0))
    read_back = open_dataset(f"{path}/results/segmentation")
    assert read_back.axes == "cxy"
    np.testing.assert_array_equal(read_back.read(), labels.transpose(2, 1, 0))
    # and probabilities converted to uint8 on the way
    [path] = export(tmp_path, probabilities, "yxc", "n5", name="p8", **TO_UINT8)
    np.testing.assert_array_equal(z5py.File(path, "r")["exported_data"][:], expected(probabilities, "yxc", **TO_UINT8))


@pytest.mark.parametrize("output_format, read", [
    pytest.param("compressed n5", lambda path, name: z5py.File(path, "r")[name][:], marks=needs_z5py),
    ("zarr", lambda path, name: zarr.open_group(path, mode="r")[name][:]),
])
def test_existing_container_keeps_its_other_datasets(tmp_path, output_format, read):
    first = RNG.integers(0, 9, (6, 7)).astype(np.uint8)
    second = RNG.random((5, 8), dtype=np.float32)
    [path] = export(tmp_path, first, "yx", output_format, output_internal_path="a")
    export(tmp_path, second, "yx", output_format, output_internal_path="b/c")
    np.testing.assert_array_equal(read(path, "a"), first)
    np.testing.assert_array_equal(read(path, "b/c"), second)
    # the same internal path again replaces that dataset only
    replacement = np.ones((2, 3), np.uint16)
    export(tmp_path, replacement, "yx", output_format, output_internal_path="a")
    np.testing.assert_array_equal(read(path, "a"), replacement)
    np.testing.assert_array_equal(read(path, "b/c"), second)
    assert os.listdir(tmp_path) == [os.path.basename(path)]  # no temporary copies left


@pytest.mark.parametrize("output_format", ["n5", "zarr"])
def test_failed_container_export_leaves_the_existing_one_untouched(tmp_path, output_format):
    data = RNG.integers(0, 9, (8, 8, 8)).astype(np.uint8)
    [path] = export(tmp_path, data, "zyx", output_format)
    before = sorted((str(p.relative_to(path)), p.read_bytes()) for p in Path(path).rglob("*") if p.is_file())
    source = FailingSource(np.zeros((8, 8, 8), np.uint8), "zyx", fail_at=3, block_shape=(2, 8, 8))
    with pytest.raises(RuntimeError):
        export(tmp_path, source, "zyx", output_format)
    after = sorted((str(p.relative_to(path)), p.read_bytes()) for p in Path(path).rglob("*") if p.is_file())
    assert after == before
    assert os.listdir(tmp_path) == [os.path.basename(path)]
    source = FailingSource(np.zeros((8, 8, 8), np.uint8), "zyx", fail_at=3, block_shape=(2, 8, 8))
    with pytest.raises(RuntimeError):
        export(tmp_path, source, "zyx", output_format, name="new/out")
    assert os.listdir(tmp_path) == [os.path.basename(path)]


@pytest.mark.parametrize("output_format, extension", [("n5", "n5"), ("zarr", "zarr")])
def test_container_path_taken_by_something_else(tmp_path, output_format, extension):
    (tmp_path / f"file.{extension}").write_text("not a container")
    with pytest.raises(UserError, match="exists and is not"):
        export(tmp_path, np.zeros((4, 5), np.uint8), "yx", output_format, name="file")
    (tmp_path / f"folder.{extension}").mkdir()
    (tmp_path / f"folder.{extension}" / "notes.txt").write_text("unrelated")
    with pytest.raises(UserError, match="exists and is not"):
        export(tmp_path, np.zeros((4, 5), np.uint8), "yx", output_format, name="folder")
    assert sorted(os.listdir(tmp_path)) == [f"file.{extension}", f"folder.{extension}"]


def test_zarr_probabilities_and_labels(tmp_path):
    data = RNG.random((2, 7, 50, 45, 2), dtype=np.float32)
    [path] = export(tmp_path, data, "tzyxc", "zarr", block_shape=(1, 3, 20, 16, 2))
    assert path == str(tmp_path / "out.zarr")
    array = zarr.open_array(f"{path}/exported_data", mode="r")
    assert array.metadata.zarr_format == 2
    assert array.dtype == np.float32 and array.shape == data.shape
    assert array.chunks == ilastik_chunk_shape(data.shape, "tzyxc", 4)
    assert array.metadata.compressor.codec_id == "gzip" and array.metadata.compressor.level == 1
    np.testing.assert_array_equal(array[:], data)
    attrs = dict(array.attrs)
    assert attrs["axistags"] == vigra_axistags_json("tzyxc")
    assert attrs["_ARRAY_DIMENSIONS"] == list("tzyxc")
    assert attrs["drange"] == [0.0, 1.0] and attrs["display_mode"] == "probabilities"
    dataset = open_dataset(f"{path}/exported_data")
    assert dataset.axes == "tzyxc"
    np.testing.assert_array_equal(dataset.read(), data)

    labels = RNG.integers(1, 3, (33, 20, 1)).astype(np.uint8)
    [path] = export(tmp_path, labels, "yxc", "zarr", name="seg", output_axis_order="xy")
    array = zarr.open_array(f"{path}/exported_data", mode="r")
    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array[:], labels[..., 0].T)
    assert open_dataset(f"{path}/exported_data").axes == "xy"


def test_zarr_into_an_existing_format_3_group_stays_format_3(tmp_path):
    root = zarr.open_group(tmp_path / "v3.zarr", mode="w", zarr_format=3)
    root.create_array("old", shape=(3,), dtype="uint8")[:] = [1, 2, 3]
    data = RNG.random((6, 5), dtype=np.float32)
    export(tmp_path, data, "yx", "zarr", name="v3")
    array = zarr.open_array(tmp_path / "v3.zarr" / "exported_data", mode="r")
    assert array.metadata.zarr_format == 3 and list(array.metadata.dimension_names) == ["y", "x"]
    np.testing.assert_array_equal(array[:], data)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "v3.zarr" / "old", mode="r")[:], [1, 2, 3])
    np.testing.assert_array_equal(open_dataset(f"{tmp_path}/v3.zarr/exported_data").read(), data)


def test_chunk_assembly_in_any_order_and_over_budget(tmp_path):
    shape, chunks = (13, 17, 3), (5, 4, 2)
    data = RNG.integers(0, 1000, shape).astype(np.int32)
    blocks = [(z, y, c) for z in range(0, 13, 3) for y in range(0, 17, 6) for c in range(0, 3, 2)]
    order = RNG.permutation(len(blocks))
    for budget in (2**30, 0):  # 0: every partly filled chunk is stored and read back later
        stored: dict = {}
        stores = []

        def store(index, chunk):
            stored[index] = chunk.copy()  # noqa: B023  (used within this iteration)
            stores.append(index)  # noqa: B023

        assembler = ChunkAssembler(shape, chunks, data.dtype, store, stored.__getitem__, budget_bytes=budget)
        for i in order:
            start = blocks[i]
            assembler.write(start, data[start[0]:start[0] + 3, start[1]:start[1] + 6, start[2]:start[2] + 2])
        assembler.finish()
        result = np.zeros_like(data)
        for index, chunk in stored.items():
            result[assembler.chunk_region(index)] = chunk
        np.testing.assert_array_equal(result, data)
        if budget:
            assert len(stores) == len(stored)  # each chunk stored once


@needs_z5py
def test_n5_chunks_stored_partly_are_completed_later(tmp_path):
    data = RNG.random((20, 30, 40), dtype=np.float32)
    path = str(tmp_path / "direct.n5")
    writer = CompressedN5Writer(path, path, data.shape, "zyx", data.dtype, ExportMetadata(internal_path="d"))
    writer._assembler._budget = 0  # force the store-and-reload path
    starts = [(z, y, x) for z in range(0, 20, 7) for y in range(0, 30, 11) for x in range(0, 40, 13)]
    for i in RNG.permutation(len(starts)):
        z, y, x = starts[i]
        writer.write(starts[i], data[z:z + 7, y:y + 11, x:x + 13])
    writer.finish()
    np.testing.assert_array_equal(z5py.File(path, "r")["d"][:], data)


# --- through the command line ---------------------------------------------------------------


@pytest.fixture
def image_2d(tmp_path) -> Path:
    image, _ = cells_image((64, 72), seed=8)
    tifffile.imwrite(tmp_path / "cells.tif", image)
    return tmp_path / "cells.tif"


def headless(*args) -> int:
    return main(["--headless", *[str(a) for a in args]])


def test_cli_xv_and_hdr(project_2d, image_2d, tmp_path):
    assert headless(f"--project={project_2d}", "--export_source", "Simple", "Segmentation", "--output_format=xv",
                    f"--output_filename_format={tmp_path}/seg", image_2d) == 0
    segmentation = read_viff(tmp_path / "seg.xv")
    assert segmentation.shape == (1, 64, 72) and set(np.unique(segmentation)) <= {1, 2}
    assert headless(f"--project={project_2d}", "--output_format=hdr", "--cutout_subregion=[(None,None,1),(None,None,2)]",
                    f"--output_filename_format={tmp_path}/cell", image_2d) == 0
    assert (tmp_path / "cell.hdr").read_bytes().startswith(b"#?RADIANCE\n")


def test_cli_multipage_tiff_sequence(project_3d, tmp_path):
    volume, _ = cells_image((14, 32, 36), seed=9)  # the project's sigma 3.5 needs 14 slices
    tifffile.imwrite(tmp_path / "volume.tif", volume)
    assert headless(f"--project={project_3d}", "--output_format", "multipage", "tiff", "sequence",
                    f"--output_filename_format={tmp_path}/out/p_{{slice_index}}", tmp_path / "volume.tif") == 0
    assert sorted(os.listdir(tmp_path / "out")) == [f"p_{i:02d}.tiff" for i in range(14)]
    page = tifffile.imread(tmp_path / "out" / "p_00.tiff")
    assert page.shape == (2, 32, 36) and page.dtype == np.float32  # the two channels of z = 0


@pytest.mark.parametrize("output_format", [pytest.param("compressed n5", marks=needs_z5py), "zarr"])
def test_cli_containers(project_2d, image_2d, tmp_path, output_format):
    assert headless(f"--project={project_2d}", f"--output_format={output_format}",
                    f"--output_filename_format={tmp_path}/{{nickname}}_{{result_type}}", image_2d) == 0
    extension = "zarr" if output_format == "zarr" else "n5"
    path = tmp_path / f"cells_Probabilities.{extension}"
    if extension == "n5":
        stored = z5py.File(str(path), "r")["exported_data"]
        values, axistags = stored[:], stored.attrs["axistags"]
    else:
        stored = zarr.open_array(path / "exported_data", mode="r")
        values, axistags = stored[:], stored.attrs["axistags"]
    assert values.shape == (64, 72, 2) and values.dtype == np.float32
    assert [tag["key"] for tag in json.loads(axistags)["axes"]] == ["y", "x", "c"]
    np.testing.assert_allclose(values.sum(axis=2), 1.0, atol=1e-5)
    np.testing.assert_array_equal(open_dataset(f"{path}/exported_data").read(), values)


@pytest.mark.parametrize("output_format, extension", [("n5", "n5"), ("zarr", "zarr")])
def test_container_input_is_never_overwritten(tmp_path, output_format, extension):
    data = RNG.integers(0, 9, (6, 7)).astype(np.uint8)
    [container] = export(tmp_path, data, "yx", output_format, name="in", output_internal_path="raw")
    source = InMemoryResult(data + 1, "yx")

    def export_into_input(internal_path):
        s = ExportSettings(output_format=output_format, output_filename_format=str(tmp_path / "in"),
                           output_internal_path=internal_path)
        return export_result(source, s, {"input_paths": [f"{container}/raw"]}, default_axis_order="yx")

    with pytest.raises(UserError, match="would overwrite its input"):
        export_into_input("raw")
    export_into_input("exported_data")  # another dataset of the input container is fine, as in ilastik
    np.testing.assert_array_equal(open_dataset(f"{container}/raw").read(), data)
    np.testing.assert_array_equal(open_dataset(f"{container}/exported_data").read(), data + 1)
