"""The 2D image formats (bmp, gif, jpeg, jpg, pbm, pgm, pnm, ppm besides png) and the
'<format> sequence' formats of the export, each file read back with Pillow or tifffile."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import apply_export
from pixelserve.errors import UserError
from pixelserve.export import OUTPUT_FORMATS, ExportSettings, InMemoryResult, export_result

FORMATS_2D = ("png", "bmp", "gif", "jpeg", "jpg", "pbm", "pgm", "pnm", "ppm")
LOSSY = ("jpeg", "jpg")
RGB_ONLY = ("ppm",)
GRAY_ONLY = ("gif", "pbm", "pgm")
TO_UINT8 = dict(export_dtype="uint8", pipeline_result_drange=(0.0, 1.0), export_drange=(0, 255))
TO_BITS = dict(export_dtype="uint8", pipeline_result_drange=(0.0, 1.0), export_drange=(0, 1))
RNG = np.random.default_rng(11)


def export(tmp_path, data, axes, output_format, name="out", **options):
    source = data if isinstance(data, InMemoryResult) else InMemoryResult(data, axes, block_shape=(3,) * len(axes))
    s = ExportSettings(output_format=output_format, output_filename_format=str(tmp_path / name), **options)
    return export_result(source, s, {}, default_axis_order=source.axes, threads=2)


def expected(data, axes, **options):
    return apply_export(data, axes, ExportSettings(**options), default_axis_order=axes)[0]


def read(path) -> np.ndarray:
    if path.endswith((".tif", ".tiff")):
        return tifffile.imread(path)
    image = Image.open(path)
    return np.asarray(image.convert("L") if image.mode == "P" else image)


def check_values(output_format, written, wanted):
    if output_format == "pbm":
        assert written.dtype == bool
        written = written.astype(np.uint8)
    else:
        assert written.dtype == wanted.dtype
    assert written.shape == wanted.shape
    if output_format in LOSSY:
        assert np.abs(written.astype(int) - wanted.astype(int)).max() <= 3
    else:
        np.testing.assert_array_equal(written, wanted)


def test_all_formats_are_registered():
    for output_format in FORMATS_2D:
        assert output_format in OUTPUT_FORMATS
        assert f"{output_format} sequence" in OUTPUT_FORMATS
    assert {"tif sequence", "tiff sequence"} <= set(OUTPUT_FORMATS)


@pytest.mark.parametrize("output_format", FORMATS_2D)
def test_probabilities_converted_to_uint8(tmp_path, output_format):
    channels = 3 if output_format in RGB_ONLY else 1
    data = RNG.random((9, 13, channels), dtype=np.float32)
    options = TO_BITS if output_format == "pbm" else TO_UINT8
    [path] = export(tmp_path, data, "yxc", output_format, **options)
    assert path == str(tmp_path / f"out.{output_format}")
    wanted = expected(data, "yxc", **options)
    check_values(output_format, read(path), wanted[:, :, 0] if channels == 1 else wanted)


@pytest.mark.parametrize("output_format", FORMATS_2D)
def test_labels_in_any_axis_order(tmp_path, output_format):
    labels = RNG.integers(0, 2 if output_format == "pbm" else 4, (1, 7, 10, 1)).astype(np.uint8)
    if output_format in RGB_ONLY:
        labels = np.repeat(labels, 3, axis=3)
    [path] = export(tmp_path, labels, "zyxc", output_format, output_axis_order="cxyz")
    # rows are y whatever the output axis order (ilastik's vigra rule)
    check_values(output_format, read(path), labels[0, :, :, 0] if labels.shape[3] == 1 else labels[0])


@pytest.mark.parametrize("output_format", ["bmp", "jpeg", "pnm", "png"])
def test_rgb(tmp_path, output_format):
    rgb = RNG.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    [path] = export(tmp_path, rgb, "yxc", output_format)
    assert Image.open(path).mode == "RGB"
    check_values(output_format, read(path), rgb)


@pytest.mark.parametrize("output_format", ["pgm", "pnm", "png"])
def test_16_bit_gray(tmp_path, output_format):
    data = RNG.integers(0, 65536, (5, 7)).astype(np.uint16)
    [path] = export(tmp_path, data, "yx", output_format)
    np.testing.assert_array_equal(np.asarray(Image.open(path)).astype(np.uint16), data)


@pytest.mark.parametrize("output_format", [f for f in FORMATS_2D if f != "png"])
def test_refusals_name_the_fix(tmp_path, output_format):
    with pytest.raises(UserError, match=rf"^{output_format} holds 2D images but the result is 3D .*: use --output_format"):
        export(tmp_path, np.zeros((3, 5, 6, 1), np.uint8), "zyxc", output_format)
    with pytest.raises(UserError) as error:
        export(tmp_path, np.zeros((5, 6, 1), np.float32), "yxc", output_format)
    assert str(error.value) == (f"{output_format} cannot hold float32: add --export_dtype uint8 "
                                "--pipeline_result_drange '(0.0,1.0)' --export_drange '(0,255)'")
    with pytest.raises(UserError, match=f"{output_format} holds uint8"):
        export(tmp_path, np.zeros((5, 6), np.int32), "yx", output_format)
    wrong = 1 if output_format in RGB_ONLY else 3 if output_format in GRAY_ONLY else 2
    with pytest.raises(UserError, match=f"but the result has {wrong}"):
        export(tmp_path, np.zeros((5, 6, wrong), np.uint8), "yxc", output_format)
    assert os.listdir(tmp_path) == []


def test_pbm_refuses_values_other_than_0_and_1(tmp_path):
    with pytest.raises(UserError, match=r"pbm holds 1-bit images .* values 0, 1, 2: use --output_format 'pgm'"):
        export(tmp_path, np.arange(12, dtype=np.uint8).reshape(3, 4) % 3, "yx", "pbm")
    assert os.listdir(tmp_path) == []


# --- sequences -----------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", [*FORMATS_2D, "tif", "tiff"])
def test_sequence_one_file_per_slice(tmp_path, output_format):
    channels = 3 if output_format in RGB_ONLY else 1
    data = RNG.random((12, 5, 7, channels), dtype=np.float32)
    options = TO_BITS if output_format == "pbm" else TO_UINT8
    paths = export(tmp_path, data, "zyxc", f"{output_format} sequence", name="seq/z{slice_index}_p", **options)
    extension = output_format
    assert paths == [str(tmp_path / "seq" / f"z{i:02d}_p.{extension}") for i in range(12)]
    assert sorted(os.listdir(tmp_path / "seq")) == sorted(os.path.basename(p) for p in paths)
    wanted = expected(data, "zyxc", **options)
    for i, path in enumerate(paths):
        check_values(output_format, read(path), wanted[i, ..., 0] if channels == 1 else wanted[i])


def test_sequence_steps_along_the_first_nonsingleton_axis_from_the_subregion_start(tmp_path):
    data = RNG.integers(0, 5, (1, 4, 6, 20, 1)).astype(np.uint8)  # t z y x c
    paths = export(tmp_path, data, "tzyxc", "png sequence", name="s_{slice_index}", output_axis_order="xzyc",
                   cutout_subregion=((0, 1, 0, 5, 0), (1, 4, 6, 15, 1)))
    # step axis x (first in the output order); 10 slices numbered from 5: padded to 2 digits
    assert [os.path.basename(p) for p in paths] == [f"s_{i:02d}.png" for i in range(5, 15)]
    for i, path in enumerate(paths):
        np.testing.assert_array_equal(read(path), data[0, 1:4, :, 5 + i, 0])  # rows z, columns y
    # an explicit format spec is applied as written
    paths = export(tmp_path, data, "tzyxc", "tif sequence", name="t_{slice_index:d}")
    assert [os.path.basename(p) for p in paths] == [f"t_{i}.tif" for i in range(4)]


def test_tif_sequence_keeps_dtype_and_channels(tmp_path):
    data = RNG.random((3, 4, 5, 2), dtype=np.float32)
    paths = export(tmp_path, data, "zyxc", "tiff sequence", name="f{slice_index}")
    for i, path in enumerate(paths):
        np.testing.assert_array_equal(read(path), data[i].transpose(2, 0, 1))  # channel planes


def test_sequence_name_must_have_slice_index_and_others_must_not(tmp_path):
    with pytest.raises(UserError, match=r"'png sequence' writes one file per slice, so --output_filename_format must contain \{slice_index\}"):
        export(tmp_path, np.zeros((3, 4, 5), np.uint8), "zyx", "png sequence", name="out")
    with pytest.raises(UserError, match=r"\{slice_index\} numbers the files of a sequence but 'png' writes one file"):
        export(tmp_path, np.zeros((4, 5), np.uint8), "yx", "png", name="out_{slice_index}")
    with pytest.raises(UserError, match=r"\{slice_index\} numbers the files of a sequence but 'compressed hdf5'"):
        export(tmp_path, np.zeros((4, 5), np.uint8), "yx", "compressed hdf5", name="out_{slice_index}")
    assert os.listdir(tmp_path) == []


def test_sequence_needs_three_nonsingleton_axes(tmp_path):
    with pytest.raises(UserError, match=r"needs exactly 3 non-singleton axes besides c.*: use --output_format 'bmp'$"):
        export(tmp_path, np.zeros((4, 5), np.uint8), "yx", "bmp sequence", name="s{slice_index}")
    with pytest.raises(UserError, match=r"but the result has t=2, z=3, y=4, x=5: use --output_format 'tif'"):
        export(tmp_path, np.zeros((2, 3, 4, 5), np.uint8), "tzyx", "png sequence", name="s{slice_index}")
    with pytest.raises(UserError, match="gif holds 1 channel of uint8 but the result has 3"):
        export(tmp_path, np.zeros((2, 4, 5, 3), np.uint8), "zyxc", "gif sequence", name="s{slice_index}")
    assert os.listdir(tmp_path) == []


class FailingSource(InMemoryResult):
    def __init__(self, array, axes, error, fail_at):
        super().__init__(array, axes, block_shape=(1, 4, 4))
        self.error, self.fail_at, self.calls = error, fail_at, 0

    def compute(self, start, stop):
        self.calls += 1
        if self.calls == self.fail_at:
            raise self.error
        return super().compute(start, stop)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_sequence_leaves_nothing(tmp_path, error):
    # slices 0 and 1 are complete (and written to temporary files, in folders of their own) before the failure
    source = FailingSource(np.zeros((4, 8, 8), np.uint8), "zyx", error, fail_at=10)
    with pytest.raises(type(error)):
        export(tmp_path, source, "zyx", "png sequence", name="new/{slice_index}/img")
    assert os.listdir(tmp_path) == []
    with pytest.raises(UserError, match="pbm holds 1-bit"):
        export(tmp_path, np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5) // 25, "zyx", "pbm sequence",
               name="b{slice_index}")
    assert os.listdir(tmp_path) == []


def test_multipage_tiff(tmp_path):
    data = RNG.random((3, 4, 5, 2), dtype=np.float32)
    [path] = export(tmp_path, data, "zyxc", "multipage tiff", **TO_UINT8)
    assert path == str(tmp_path / "out.tiff")
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 3 * 2  # one page per z and c
        written = tif.asarray()
    np.testing.assert_array_equal(written, expected(data, "zyxc", **TO_UINT8).transpose(0, 3, 1, 2))
