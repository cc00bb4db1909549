"""The ImageJ metadata of TIFF results, read back with tifffile (and Pillow for the palette):
what Fiji needs to show a result as meant, beyond what ilastik writes."""

from __future__ import annotations

import numpy as np
import tifffile
from PIL import Image

from pixelserve import open_project
from pixelserve.export import ExportSettings, InMemoryResult, export_result
from pixelserve.headless.cli import main

COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))


def export(tmp_path, source, name, **kwargs):
    settings = ExportSettings(output_filename_format=str(tmp_path / name), output_format="tif", **kwargs)
    [path] = export_result(source, settings, {}, default_axis_order=source.axes)
    return path


def test_probabilities_have_class_names_colours_and_ranges(tmp_path):
    data = np.random.default_rng(0).random((2, 8, 9, 3), dtype=np.float32)  # zyxc
    source = InMemoryResult(data, "zyxc", drange=(0.0, 1.0), channel_names=("bg", "cell", "edge"), channel_colors=COLORS)
    with tifffile.TiffFile(export(tmp_path, source, "p")) as tif:
        meta = tif.imagej_metadata
        assert tif.series[0].axes == "ZCYX" and meta["channels"] == 3 and meta["slices"] == 2
        assert meta["Labels"] == ["bg", "cell", "edge"] * 2
        np.testing.assert_array_equal(meta["Ranges"], [0, 1] * 3)
        assert meta["mode"] == "composite"
        # each channel ramps from black to its class colour
        [red, green, blue] = meta["LUTs"]
        assert red.shape == (3, 256) and red[:, -1].tolist() == [255, 0, 0] and red[:, 0].tolist() == [0, 0, 0]
        assert green[:, 128].tolist() == [0, 128, 0] and blue[:, -1].tolist() == [0, 0, 255]


def test_a_channel_cutout_keeps_the_matching_names_and_the_origin(tmp_path):
    data = np.zeros((10, 12, 3), np.float32)
    source = InMemoryResult(data, "yxc", drange=(0.0, 1.0), channel_names=("bg", "cell", "edge"), channel_colors=COLORS)
    path = export(tmp_path, source, "cut", cutout_subregion=((2, 3, 1), (10, 12, 3)),
                  export_dtype="uint8", pipeline_result_drange=(0.0, 1.0), export_drange=(0, 255))
    with tifffile.TiffFile(path) as tif:
        meta = tif.imagej_metadata
        assert meta["Labels"] == ["cell", "edge"]
        np.testing.assert_array_equal(meta["Ranges"], [0, 255, 0, 255])  # the exported range
        # ImageJ's origin: the pixel position of the source's coordinate 0
        assert meta["xorigin"] == -3 and meta["yorigin"] == -2
        assert tif.series[0].shape == (2, 8, 9)


def test_2d_label_image_is_a_palette_tiff(tmp_path):
    labels = np.array([[0, 1, 2], [3, 2, 1]], np.uint8)
    source = InMemoryResult(labels, "yx", channel_names=("Simple Segmentation",), label_colors=COLORS)
    path = export(tmp_path, source, "seg")
    image = Image.open(path)
    assert image.mode == "P"
    palette = np.array(image.getpalette()[:12]).reshape(4, 3)
    np.testing.assert_array_equal(palette, [(0, 0, 0), *COLORS])
    np.testing.assert_array_equal(np.array(image), labels)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej and tif.imagej_metadata["Labels"] == "Simple Segmentation"  # one label: a str


def test_label_time_series_of_volumes_stays_a_hyperstack_with_a_lut(tmp_path):
    labels = np.random.default_rng(1).integers(0, 4, (2, 3, 5, 6), dtype=np.uint8)  # tzyx
    path = export(tmp_path, InMemoryResult(labels, "tzyx", label_colors=COLORS), "seg_t")
    with tifffile.TiffFile(path) as tif:
        meta = tif.imagej_metadata
        assert meta["hyperstack"] and meta["frames"] == 2 and meta["slices"] == 3
        [table] = np.asarray(meta["LUTs"]).reshape(-1, 3, 256)  # tifffile unwraps a single LUT
        assert table[:, 2].tolist() == [0, 255, 0] and (meta["min"], meta["max"]) == (0, 255)
        np.testing.assert_array_equal(tif.asarray(), labels)


def test_cli_tif_of_a_real_project(project_2d, tmp_path):
    """Probabilities and segmentation from the CLI carry the project's class names and colours."""
    from pixelserve.synthetic import cells_image

    project = open_project(project_2d)
    tifffile.imwrite(tmp_path / "in.tif", cells_image((96, 96), seed=1)[0])
    for source in ("Probabilities", "Simple Segmentation"):
        code = main(["--headless", f"--project={project_2d}", "--output_format=tif",
                     f"--export_source={source}", str(tmp_path / "in.tif")])
        assert code == 0
    with tifffile.TiffFile(tmp_path / "in_Probabilities.tif") as tif:
        assert tif.imagej_metadata["Labels"] == project.label_names
    with tifffile.TiffFile(tmp_path / "in_Simple_Segmentation.tif") as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.PALETTE
