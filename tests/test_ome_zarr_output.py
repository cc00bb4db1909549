"""OME-Zarr output ('single-scale OME-Zarr', 'multi-scale OME-Zarr') read back by independent
readers: ome-zarr-py (the NGFF reference reader) for axes, scales and pixels, and
ome-zarr-models (pydantic models of the NGFF 0.4 schema) for validation; ilastik's own
expectations for its pyramid (tests/test_lazyflow/test_utility/test_io_util/test_write_ome_zarr.py);
'blockwise hdf5', which ilastik lists but never implemented."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from pixelserve.errors import UserError
from pixelserve.export import ExportSettings, InMemoryResult, export_result
from pixelserve.export.downscale import LINEAR, NEAREST, downscale_block, pyramid_shapes
from pixelserve.export.hdf5_writer import ilastik_chunk_shape
from pixelserve.export.ome_zarr_writer import CHUNK_BYTES, OME_AXES
from pixelserve.io import open_dataset
from pixelserve.synthetic import cells_image

ome_zarr_reader = pytest.importorskip("ome_zarr.reader")
ome_zarr_io = pytest.importorskip("ome_zarr.io")
ngff_v04 = pytest.importorskip("ome_zarr_models.v04.image")
zarr = pytest.importorskip("zarr")

from conftest import shell_env  # noqa: E402


def read_back(path):
    """(pixels per level, axes, effective scale per level, multiscale translation) as the
    independent readers see them; ome-zarr-models validates the metadata on the way."""
    image = ngff_v04.Image.from_zarr(zarr.open_group(str(path), mode="r"))
    multiscale = image.attributes.multiscales[0]
    overall_scale, translation = np.ones(5), np.zeros(5)
    for transformation in multiscale.coordinateTransformations or ():
        if transformation.type == "scale":
            overall_scale = np.array(transformation.scale)
        else:
            translation = np.array(transformation.translation)
    node = list(ome_zarr_reader.Reader(ome_zarr_io.parse_url(str(path)))())[0]
    scales = [np.array(t[0]["scale"]) * overall_scale for t in node.metadata["coordinateTransformations"]]
    return [np.asarray(level) for level in node.data], node.metadata["axes"], scales, translation


def export(array, axes, output_format, path, **options):
    settings = ExportSettings(output_format=output_format, output_filename_format=str(path),
                              **{k: v for k, v in options.items() if k in ("cutout_subregion", "export_dtype")})
    source = InMemoryResult(array, axes, label_colors=options.get("label_colors", ()))
    return export_result(source, settings.validated(), {}, default_axis_order=axes,
                         resolution=options.get("resolution"), axis_units=options.get("axis_units"))


# ilastik's own cases for its default pyramid (test_generate_default_target_scales, float32)
@pytest.mark.parametrize("shape, axes, expected", [
    ((1, 1), "yx", [(1, 1, 1, 1, 1)]),
    ((500, 500), "yx", [(1, 1, 1, 500, 500)]),
    ((65, 65, 65), "zyx", [(1, 1, 65, 65, 65), (1, 1, 32, 32, 32)]),
    ((4000, 4000), "yx", [(1, 1, 1, 4000, 4000), (1, 1, 1, 2000, 2000), (1, 1, 1, 1000, 1000), (1, 1, 1, 500, 500)]),
    ((3, 700, 10, 700), "cytx", [(10, 3, 1, 700, 700), (10, 3, 1, 350, 350)]),
])
def test_pyramid_levels_as_ilastik(shape, axes, expected):
    shape5 = tuple(shape[axes.index(a)] if a in axes else 1 for a in OME_AXES)
    chunks = ilastik_chunk_shape(shape5, OME_AXES, 4, CHUNK_BYTES)
    assert pyramid_shapes(shape5, OME_AXES, chunks) == expected


def test_downscaling_as_ilastik():
    """ilastik's test_respects_interpolation_order: t + c + z + y + x on (2, 2, 5, 5, 5)
    shrunk to (2, 2, 2, 2, 2)."""
    data = np.indices((2, 2, 5, 5, 5)).sum(0).astype(np.float32)
    results = {}
    for order in (NEAREST, LINEAR):
        out = np.empty((2, 2, 2, 2, 2), np.float32)
        downscale_block(lambda region: data[region], data.shape, out.shape, (0,) * 5, out.shape, order, 1, out)
        results[order] = out
    expected_c0 = [[[[3.0, 5.0], [5.0, 7.0]], [[5.0, 7.0], [7.0, 9.0]]],
                   [[[4.0, 6.0], [6.0, 8.0]], [[6.0, 8.0], [8.0, 10.0]]]]
    np.testing.assert_array_equal(results[NEAREST][:, 0], expected_c0)
    difference = np.abs(results[LINEAR] - results[NEAREST])
    assert np.all(difference > 0) and np.all(difference < 1)


def test_linear_downscaling_samples_pixel_centres():
    """A linear ramp stays linear under the symmetric smoothing and the linear interpolation,
    so away from the mirrored borders level 1 holds the ramp at 2 i + 0.5."""
    ramp = np.broadcast_to(np.arange(40, dtype=np.float32) * 3.0, (1, 1, 1, 8, 40)).copy()
    out = np.empty((1, 1, 1, 4, 20), np.float32)
    downscale_block(lambda region: ramp[region], ramp.shape, out.shape, (0,) * 5, out.shape, LINEAR, 1, out)
    np.testing.assert_allclose(out[0, 0, 0, 1, 3:17], (2 * np.arange(3, 17) + 0.5) * 3.0, rtol=1e-6)


def test_multi_scale_read_back_by_ome_zarr_py(tmp_path):
    rng = np.random.default_rng(1)
    probabilities = rng.random((1100, 1300, 2), dtype=np.float32)
    paths = export(probabilities, "yxc", "multi-scale OME-Zarr", tmp_path / "probabilities",
                   resolution={"y": 0.5, "x": 0.25}, axis_units={"y": "µm", "x": "micron"})
    assert paths == [str(tmp_path / "probabilities.zarr")]
    levels, axes, scales, translation = read_back(paths[0])
    assert [(a["name"], a["type"], a.get("unit")) for a in axes] == [
        ("t", "time", None), ("c", "channel", None), ("z", "space", None), ("y", "space", "micrometer"),
        ("x", "space", "micrometer")]
    assert [level.shape for level in levels] == [(1, 2, 1, 1100, 1300), (1, 2, 1, 550, 650), (1, 2, 1, 275, 325)]
    np.testing.assert_array_equal(levels[0][0, :, 0], np.moveaxis(probabilities, 2, 0))
    for level, scale in enumerate(scales):  # pixel size times 2^level along y and x
        np.testing.assert_allclose(scale, [1, 1, 1, 0.5 * 2**level, 0.25 * 2**level])
    assert not translation.any()
    # the smoothed levels keep the mean and lie within the data range
    assert abs(levels[2].mean() - probabilities.mean()) < 1e-3 and 0 <= levels[2].min() and levels[2].max() <= 1
    attributes = json.loads((tmp_path / "probabilities.zarr" / ".zattrs").read_text())
    assert attributes["multiscales"][0]["metadata"]["kwargs"]["order"] == LINEAR
    array_attributes = json.loads((tmp_path / "probabilities.zarr" / "s1" / ".zattrs").read_text())
    assert [tag["key"] for tag in json.loads(array_attributes["axistags"])["axes"]] == list(OME_AXES)
    assert array_attributes["axis_units"] == {"y": "µm", "x": "micron"}
    # pixelserve's own reader opens the lowest resolution, with the pixel size of that level
    reopened = open_dataset(paths[0])
    assert (reopened.shape, reopened.axes) == ((1, 2, 1, 275, 325), "tczyx")
    assert reopened.resolution["x"] == (1.0, "micrometer")


def test_single_scale_cutout_offset_and_axis_order(tmp_path):
    volume = np.arange(2 * 6 * 20 * 24, dtype=np.uint16).reshape(2, 6, 20, 24)  # tzyx
    export(volume, "tzyx", "single-scale OME-Zarr", tmp_path / "cut",
           cutout_subregion="[(1, 2, 4, 6), (2, 5, 16, 20)]", resolution={"t": 30.0, "z": 2.0, "y": 0.5, "x": 0.5},
           axis_units={"t": "s", "z": "um", "y": "um", "x": "um"})
    levels, axes, scales, translation = read_back(tmp_path / "cut.zarr")
    assert len(levels) == 1 and levels[0].shape == (1, 1, 3, 12, 14)
    np.testing.assert_array_equal(levels[0][0, 0], volume[1, 2:5, 4:16, 6:20])
    assert [a.get("unit") for a in axes] == ["second", None, "micrometer", "micrometer", "micrometer"]
    # ilastik puts the pixel size of a single scale on the multiscale, and the offset in physical units
    np.testing.assert_allclose(scales[0], [30.0, 1, 2.0, 0.5, 0.5])
    np.testing.assert_allclose(translation, [30.0, 0, 4.0, 2.0, 3.0])
    assert "metadata" not in json.loads((tmp_path / "cut.zarr" / ".zattrs").read_text())["multiscales"][0]


def test_label_pyramid_is_nearest_neighbour(tmp_path):
    labels = np.repeat(np.repeat(np.arange(1, 5, dtype=np.uint8).reshape(2, 2), 300, 0), 300, 1)[:, :, None]
    labels = np.tile(labels, (2, 2, 1))  # 1200 x 1200 in blocks of 4 classes
    export(labels, "yxc", "multi-scale OME-Zarr", tmp_path / "labels", label_colors=((255, 0, 0),) * 4)
    levels, _, _, _ = read_back(tmp_path / "labels.zarr")
    assert len(levels) == 2 and set(np.unique(levels[1])) == {1, 2, 3, 4}  # uint8 chunks: 1000 x 1000
    np.testing.assert_array_equal(levels[1][0, 0, 0], labels[1::2, 1::2, 0])  # ilastik samples at 2 i + 0.5 -> 2 i + 1
    attributes = json.loads((tmp_path / "labels.zarr" / ".zattrs").read_text())
    assert attributes["multiscales"][0]["metadata"]["kwargs"]["order"] == NEAREST


def test_existing_output_is_replaced_only_if_it_is_an_ome_zarr(tmp_path):
    export(np.zeros((30, 40), np.uint8), "yx", "single-scale OME-Zarr", tmp_path / "out")
    export(np.ones((30, 40), np.uint8), "yx", "single-scale OME-Zarr", tmp_path / "out")
    assert read_back(tmp_path / "out.zarr")[0][0].min() == 1
    (tmp_path / "other.zarr").mkdir()
    (tmp_path / "other.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="exists and is not an OME-Zarr image, so it is not replaced"):
        export(np.ones((30, 40), np.uint8), "yx", "single-scale OME-Zarr", tmp_path / "other")
    assert (tmp_path / "other.zarr" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.zarr", "out.zarr"]


def test_blockwise_hdf5_is_refused_with_the_formats_that_work(tmp_path):
    with pytest.raises(UserError, match=r"ilastik lists 'blockwise hdf5' but has never implemented it .*: use "
                                        r"--output_format 'compressed hdf5' .* or 'multi-scale OME-Zarr'"):
        export(np.zeros((30, 40), np.uint8), "yx", "blockwise hdf5", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_cli_segmentation_pyramid_of_a_3d_project(project_3d, tmp_path):
    """As ilastik's test_headless_ome_zarr_multiscale_export: a segmentation exported as float32
    must still hold whole class numbers on the smaller levels (nearest neighbour)."""
    image, _ = cells_image((30, 140, 150), seed=41)
    np.save(tmp_path / "volume.npy", image)
    result = subprocess.run(
        ["pixelserve", "--headless", f"--project={project_3d}", "--export_source", "Simple", "Segmentation",
         "--output_format", "multi-scale", "OME-Zarr", "--export_dtype=float32",
         "--cutout_subregion=[(0, 10, 0, 0), (30, 138, 150, 1)]",
         f"--output_filename_format={tmp_path}/{{nickname}}_{{result_type}}", str(tmp_path / "volume.npy")],
        env=shell_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    levels, axes, scales, translation = read_back(tmp_path / "volume_Simple_Segmentation.zarr")
    # float32 chunks of about 1 MB are (30, 92, 92): one level down fits them
    assert [level.shape for level in levels] == [(1, 1, 30, 128, 150), (1, 1, 15, 64, 75)]
    assert set(np.unique(levels[0])) == {1.0, 2.0} and set(np.unique(levels[1])) <= {1.0, 2.0}
    np.testing.assert_allclose(translation, [0, 0, 0, 10, 0])
    np.testing.assert_allclose(scales[1], [1, 1, 2, 2, 2])
