"""Fiji's Train Object Classifier and Train Cell Counter (issues 11 and 12): macros in a real
headless ImageJ train through a real server on 127.0.0.1, and the projects they write predict
what `pixelserve train` on the same data and seed predicts; refusals come back as one sentence
in the macro's error. The plugin, server and data fixtures are tests/test_fiji.py's."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

import test_fiji
from objects_fixtures import write_shapes
from pixelserve.headless.cli import main
from pixelserve.synthetic import blobs_image
from test_fiji import failing, ok, run_macro, settings

# test_fiji.py's fixtures: the built plugin, an ImageJ folder, its data folder and its server
plugin, imagej_home, data, server = test_fiji.plugin, test_fiji.imagej_home, test_fiji.data, test_fiji.server

def cli(*args: str, cwd: Path) -> None:
    """`pixelserve ...` run in this process (faster than test_fiji.cli's subprocess)."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        assert main(list(args)) == 0
    finally:
        os.chdir(here)


OBJECT_FEATURES = "Count,Mean,Variance,RegionRadii,Convexity"
COUNTING_FEATURES = "gaussian:1.6,3.5 hessian:1.6"


@pytest.fixture(scope="module")
def shapes(data) -> Path:
    """Round and elongated objects (train, test), a label image with a pixel on 30 objects
    and the 3 x 3 squares around another 30 objects' centres (ROIs: (x, y, class))."""
    folder = data / "training_shapes"
    folder.mkdir()
    write_shapes(folder, {"train": 1, "test": 2})
    truth = np.load(folder / "train_truth.npy")
    objects, _ = ndimage.label(truth > 0)
    labels = np.zeros(truth.shape, np.uint8)
    squares = []
    for index, box in enumerate(ndimage.find_objects(objects)[:60], start=1):
        ys, xs = np.nonzero(objects[box] == index)
        y, x = ys[len(ys) // 2] + box[0].start, xs[len(xs) // 2] + box[1].start
        if index <= 30:
            labels[y, x] = truth[y, x]
        else:
            squares.append((int(x), int(y), int(truth[y, x])))
    tifffile.imwrite(folder / "train_labels.tif", labels)
    square_labels = np.zeros(truth.shape, np.uint8)
    for x, y, value in squares:
        square_labels[y - 1:y + 2, x - 1:x + 2] = value
    tifffile.imwrite(folder / "square_labels.tif", square_labels)
    (folder / "squares.txt").write_text("\n".join(f"makeRectangle({x - 1}, {y - 1}, 3, 3); Roi.setGroup({value}); "
                                                  "Overlay.addSelection;" for x, y, value in squares))
    return folder


def object_predictions(project: Path, folder: Path, out: str) -> np.ndarray:
    cli("--headless", f"--project={project}", "--raw_data=test.tif", "--segmentation_image=test_seg.tif",
        "--output_format=tif", f"--output_filename_format={folder / out}", cwd=folder)
    return tifffile.imread(folder / f"{out}.tif")


def train_objects_with_the_cli(folder: Path, labels: str, output: str) -> None:
    cli("train", "--workflow=object", "--raw_data=train.tif", "--segmentation_image=train_seg.tif", f"--labels={labels}",
        "--label_names=round,elongated", f"--features={OBJECT_FEATURES}", "--trees=10", "--seed=4", f"--output={output}",
        cwd=folder)


def test_an_object_classifier_from_a_label_image_or_rois_equals_the_command_line(plugin, imagej_home, server, shapes):
    port, _ = server
    common = (f"output=[{shapes}/%s] label_names=[round,elongated] features=[{OBJECT_FEATURES}] trees=10 seed=4 "
              "raw_data=train.tif segmentation_image=train_seg.tif")
    ok(run_macro(plugin, imagej_home, settings(port) + f"""
open("{shapes}/train.tif");
open("{shapes}/train_seg.tif");
open("{shapes}/train_labels.tif");
run("Train Object Classifier", "labels=train_labels.tif {common % 'fiji_labels.ilp'}");
selectImage("train.tif");
{(shapes / 'squares.txt').read_text()}
run("Select None");
run("Train Object Classifier", "{common % 'fiji_rois.ilp'}");
"""))
    train_objects_with_the_cli(shapes, "train_labels.tif", "cli_labels.ilp")
    train_objects_with_the_cli(shapes, "square_labels.tif", "cli_rois.ilp")
    for kind in ("labels", "rois"):
        expected = object_predictions(shapes / f"cli_{kind}.ilp", shapes, f"cli_{kind}")
        assert set(np.unique(expected)) == {0, 1, 2}
        np.testing.assert_array_equal(object_predictions(shapes / f"fiji_{kind}.ilp", shapes, f"fiji_{kind}"), expected)


def test_a_cell_counter_from_point_rois_and_a_background_rectangle_equals_the_command_line(
        plugin, imagej_home, data, server, tmp_path):
    folder = data / "training_blobs"
    folder.mkdir()
    image, centres = blobs_image((96, 96), n_blobs=8, seed=2)
    tifffile.imwrite(folder / "blobs.tif", image)
    tifffile.imwrite(folder / "other.tif", blobs_image((96, 96), n_blobs=8, seed=3)[0])
    ys, xs = np.round(np.asarray(centres)[:, :2]).astype(int).T
    dots = np.zeros(image.shape, np.uint8)
    dots[0:12, 40:90] = 2
    dots[ys, xs] = 1
    tifffile.imwrite(folder / "dots.tif", dots)
    port, _ = server
    ok(run_macro(plugin, imagej_home, settings(port) + f"""
open("{folder}/blobs.tif");
makeRectangle(40, 0, 50, 12); Overlay.addSelection;
makeSelection("point", newArray({','.join(map(str, xs[1:]))}), newArray({','.join(map(str, ys[1:]))})); Overlay.addSelection;
makePoint({xs[0]}, {ys[0]}); Overlay.addSelection;
run("Select None");
run("Train Cell Counter", "raw_data=blobs.tif output=[{folder}/fiji.ilp] sigma=2 features=[{COUNTING_FEATURES}] seed=1");
"""))
    cli("train", "--workflow=counting", "--raw_data=blobs.tif", "--labels=dots.tif", f"--features={COUNTING_FEATURES}",
        "--sigma=2", "--seed=1", "--output=cli.ilp", cwd=folder)
    densities = []
    for name in ("cli", "fiji"):
        cli("--headless", f"--project={folder / name}.ilp", "--output_format=tif",
            f"--output_filename_format={tmp_path / name}", "other.tif", cwd=folder)
        densities.append(tifffile.imread(tmp_path / f"{name}.tif"))
    assert densities[0].sum() > 1
    np.testing.assert_array_equal(densities[1], densities[0])


@pytest.mark.parametrize("macro, message", [
    ('open("{shapes}/train.tif"); open("{shapes}/train_seg.tif");\n'
     'run("Train Object Classifier", "raw_data=train.tif segmentation_image=train_seg.tif output=[{shapes}/x.ilp]");',
     "'train.tif' has no ROIs in its overlay: draw the labels as ROIs"),
    ('open("{shapes}/train.tif"); newImage("small", "8-bit black", 100, 80, 1);\n'
     'run("Train Object Classifier", "raw_data=train.tif segmentation_image=small output=[{shapes}/x.ilp]");',
     "The segmentation image 'small' is "),
    ('open("{shapes}/train.tif"); open("{shapes}/train_labels.tif");\n'
     'run("Train Object Classifier", "raw_data=train.tif labels=train_labels.tif output=[{shapes}/x.ilp]");',
     "No objects given: choose the segmentation image (segmentation_image=[title]) or the prediction maps"),
    ('open("{shapes}/train.tif"); makeRectangle(1, 1, 5, 5); Overlay.addSelection;\n'
     'run("Train Cell Counter", "raw_data=train.tif output=[{shapes}/x.ilp]");',
     "'train.tif' has no point ROIs: mark a point on each object with the Multi-point tool"),
])
def test_refusals_are_one_sentence_in_the_macros_error(plugin, imagej_home, server, shapes, macro, message):
    port, _ = server
    error = failing(run_macro(plugin, imagej_home, settings(port) + macro.format(shapes=shapes)))
    assert message in error, error
    assert not (shapes / "x.ilp").exists()
