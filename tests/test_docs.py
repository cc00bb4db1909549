"""Every shell example in docs/headless.md runs, in a folder prepared like the one the text
describes, and does what the text says."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import EXPECTED_FAILURE, doc_blocks, run_shell, write_ome_zarr
from pixelserve.io import open_dataset
from pixelserve.io.axes import vigra_axistags_json
from pixelserve.synthetic import cells_image, scribbles


def shell_blocks(name: str) -> list[str]:
    return doc_blocks(name, "bash")


def run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_shell(command, cwd, timeout=300)


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("headless_docs")
    (folder / "images").mkdir()
    (folder / "frames").mkdir()
    image, truth = cells_image((256, 256), seed=3)
    tifffile.imwrite(folder / "train.tif", image)
    tifffile.imwrite(folder / "train_labels.tif", scribbles(truth, seed=3))
    for index in (1, 2):
        new, _ = cells_image((256, 256), seed=10 + index)
        tifffile.imwrite(folder / "images" / f"cells_{index}.tif", new)
    Image.fromarray(tifffile.imread(folder / "images" / "cells_1.tif")).save(folder / "images" / "cells_1.png")
    cells_1 = tifffile.imread(folder / "images" / "cells_1.tif")
    write_ome_zarr(folder / "images" / "cells_1.ome.zarr", [cells_1, cells_1[::2, ::2]], "yx", chunks=(64, 64))
    mask = np.zeros((256, 256), np.uint8)
    mask[:, :128] = 1
    tifffile.imwrite(folder / "images" / "mask_1.tif", mask)
    Image.fromarray(np.dstack([image] * 3)).save(folder / "images" / "rgb.png")
    with h5py.File(folder / "volume.h5", "w") as file:
        file["raw/cells"] = image
        file["raw/other"] = image[:64, :64]
    with h5py.File(folder / "volume_cyx.h5", "w") as file:
        file["data"] = cells_1[None]
        file["data"].attrs["axistags"] = vigra_axistags_json("cyx")
    for index in range(10):
        frame, _ = cells_image((96, 96), seed=20 + index, n_cells=6)
        Image.fromarray(frame).save(folder / "frames" / f"frame_{index}.png")
    trained = run("pixelserve train --raw_data train.tif --labels train_labels.tif "
                  "--label_names background,cell --trees 20 --seed 0 --output MyProject.ilp", folder)
    assert trained.returncode == 0, trained.stderr
    return folder


# The documents whose bash blocks are run, in this order, in one example folder.
SHELL_DOCS = ("headless.md", "export.md", "batch.md")


@pytest.fixture(scope="module")
def doc_runs(example_folder) -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Every shell block of SHELL_DOCS, run once, in order."""
    return {(name, block): run(block, example_folder) for name in SHELL_DOCS for block in shell_blocks(name)}


@pytest.mark.parametrize("name, block", [(name, block) for name in SHELL_DOCS for block in shell_blocks(name)])
def test_shell_examples_run(doc_runs, name, block):
    result = doc_runs[name, block]
    expected = EXPECTED_FAILURE.search(block)
    if expected and name == "batch.md":
        # Several files: the failed ones are listed in a summary at the end.
        assert result.returncode == int(expected.group(1)), result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert re.search(r"^pixelserve: \d+ of \d+ files failed:\n(  \S.*: .*Fix.*\n)+\Z",
                         result.stderr, flags=re.M), result.stderr
    elif expected:
        assert result.returncode == int(expected.group(1)), result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith("pixelserve: error: "), lines[0]
        assert any(hint in lines[0] for hint in ("Fix", "Did you mean", "e.g.", "add --", "use --")), lines[0]
    else:
        assert result.returncode == 0, result.stderr


def test_headless_examples_wrote_what_the_text_says(example_folder, doc_runs):
    results = example_folder / "results"
    segmentation = tifffile.imread(results / "cells_1_segmentation.tif")
    assert segmentation.dtype == np.uint8 and set(np.unique(segmentation)) <= {1, 2}
    png = np.asarray(Image.open(results / "cells_1_cell_probability_[(0, 0, 1), (256, 256, 2)].png"))
    assert png.dtype == np.uint8 and png.shape == (256, 256)
    channel_first = np.load(results / "cells_1_Probabilities.npy")
    assert channel_first.shape == (2, 256, 256)
    np.testing.assert_allclose(channel_first.sum(axis=0), 1.0, atol=1e-5)
    with h5py.File(results / "all_cells_2.h5", "r") as file:
        assert file["predictions/cells"].shape == (256, 256, 2)
    frames = sorted(p.name for p in (results / "frames").iterdir())
    assert frames == [f"seg_{index:02d}.png" for index in range(10)]
    assert np.asarray(Image.open(results / "frames" / "seg_03.png")).shape == (96, 96)
    with h5py.File(example_folder / "frames" / "frame__Probabilities.h5", "r") as file:
        assert file["exported_data"].shape == (10, 96, 96, 2)
    masked = tifffile.imread(example_folder / "images" / "cells_1_Simple_Segmentation.tif")
    assert (masked[:, 128:] == 0).all() and (masked[:, :128] > 0).all()
    # OME-Zarr input: the named full scale gives the TIFF's result, the default the lowest scale
    with h5py.File(results / "zarr_full.h5", "r") as full, h5py.File(results / "zarr_lowest.h5", "r") as lowest, \
            h5py.File(example_folder / "images" / "cells_1_Probabilities.h5", "r") as from_tiff:
        np.testing.assert_array_equal(full["exported_data"][...], from_tiff["exported_data"][...])
        assert lowest["exported_data"].shape == (128, 128, 2)
        with h5py.File(results / "zarr_scale_0.h5", "r") as scale_0:
            np.testing.assert_array_equal(scale_0["exported_data"][...], full["exported_data"][...])
        # a channel-first file is read with its own axes, with or without --ignore_training_axistags
        for name in ("volume_cyx_as_stored.h5", "volume_cyx_ignoring_training_axes.h5"):
            with h5py.File(results / name, "r") as cyx:
                np.testing.assert_array_equal(cyx["exported_data"][...],
                                              from_tiff["exported_data"][...].transpose(2, 0, 1))


def test_export_examples_wrote_what_the_text_says(example_folder, doc_runs):
    out = example_folder / "export_docs"
    box = np.asarray(Image.open(out / "cells_1_cell_y50-150_x20-220.png"))
    probabilities = np.load(out / "cells_1_Probabilities.npy")  # cyx
    assert box.shape == (100, 200) and box.dtype == np.uint8
    # ilastik's mapping: x * 255, rounded half to even, no clipping
    expected = np.rint(probabilities[1, 50:150, 20:220].astype(np.float32) * np.float32(255)).astype(np.uint8)
    np.testing.assert_array_equal(box, expected)
    with tifffile.TiffFile(out / "cells_2_Probabilities.tif") as tif:
        assert tif.imagej_metadata["Labels"] == ["background", "cell"]
    with tifffile.TiffFile(out / "cells_1_Simple_Segmentation.tif") as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.PALETTE
    frames = sorted(p.name for p in (out / "frames").iterdir())
    assert frames == [f"frame_{i:02d}.tiff" for i in range(10)] + [f"seg_{i:02d}.ras" for i in range(10)]
    assert tifffile.imread(out / "frames" / "frame_03.tiff").shape == (2, 96, 96)
    n5 = open_dataset(str(out / "results.n5" / "cells_1" / "probabilities"))
    assert n5.shape == (256, 256, 2) and n5.axes == "yxc"
    zarr_dataset = open_dataset(str(out / "results.zarr" / "cells_2" / "segmentation"))
    assert zarr_dataset.dtype == np.uint8 and zarr_dataset.shape[:2] == (256, 256)
    probabilities_zarr = open_dataset(str(out / "cells_1_Probabilities.zarr"))
    assert (probabilities_zarr.shape, probabilities_zarr.axes) == ((1, 2, 1, 256, 256), "tczyx")
    np.testing.assert_array_equal(probabilities_zarr.read()[0, :, 0], probabilities)  # both cyx
    box = open_dataset(str(out / "cells_2_box.zarr"))
    assert box.shape == (1, 1, 1, 100, 200) and set(np.unique(box.read())) <= {1, 2}
    multiscale = json.loads((out / "cells_2_box.zarr" / ".zattrs").read_text())["multiscales"][0]
    assert multiscale["coordinateTransformations"][1] == {"type": "translation", "translation": [0, 0, 0, 50, 20]}
    pyramid = json.loads((out / "cells_1_pyramid.zarr" / ".zattrs").read_text())["multiscales"][0]
    assert [dataset["path"] for dataset in pyramid["datasets"]] == ["s0", "s1"]  # the input's scales
    assert open_dataset(str(out / "cells_1_pyramid.zarr" / "s1")).shape == (1, 2, 1, 128, 128)


def test_batch_examples_did_what_the_text_says(example_folder, doc_runs):
    out = example_folder / "batch"
    assert sorted(p.name for p in out.glob("*.h5")) == ["cells_1_Probabilities.h5",
                                                        "cells_2_Probabilities.h5"]
    frames = sorted(p.name for p in (out / "frames").iterdir())
    assert frames == [f"frame_{index}_segmentation.png" for index in range(10)]
    assert sorted(p.name for p in (out / "mixed").iterdir()) == ["cells_1.h5", "cells_2.h5"]
    # Parallel, serial and memory-limited runs give the same results.
    for folder in ("serial", "small_budget", "mixed"):
        with h5py.File(out / folder / "cells_2.h5", "r") as a, \
                h5py.File(out / "cells_2_Probabilities.h5", "r") as b:
            np.testing.assert_array_equal(a["exported_data"][...], b["exported_data"][...])
    stderr = {block.split("output_filename_format=")[1].split("/")[1]: result.stderr
              for (name, block), result in doc_runs.items() if name == "batch.md"}
    assert "processing 2 files, 1 at a time" in stderr["small_budget"]
    assert "processing 2 files, 1 at a time (2 threads each)" in stderr["serial"]
    assert "  images/rgb.png: " in stderr["mixed"] and "3 channel(s)" in stderr["mixed"]
    assert not list(out.rglob(".*.part"))


def test_python_examples_run(example_folder, monkeypatch):
    """The code blocks of docs/python.md run in order, as one script, in the example folder."""
    blocks = doc_blocks("python.md", "python")
    assert blocks
    monkeypatch.chdir(example_folder)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), namespace)
    assert namespace["probabilities"].shape == (256, 256, 2)
