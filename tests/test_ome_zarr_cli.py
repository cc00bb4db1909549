"""OME-Zarr inputs on the command line, on a server and in training: --input_scale,
{dataset_dir} of addresses, the server's --allowed-url policy, the working scale a project
stores, and the export progress counting a pyramid's levels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from conftest import FolderServer, write_ome_zarr
from pixelserve.errors import UserError
from pixelserve.export import ExportSettings, InMemoryResult, export_result
from pixelserve.headless.cli import main
from pixelserve.project.ilp import open_h5, read_project_file
from pixelserve.server.app import Server, ServerConfig
from pixelserve.server.security import PathDenied, UrlPolicy
from pixelserve.synthetic import cells_image, scribbles
from pixelserve.training.cli import main as train_main

pytest.importorskip("zarr")


def run_cli(*args) -> int:
    return main(["--headless", *[str(a) for a in args]])


def exported(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as file:
        return file["exported_data"][()]


@pytest.fixture(scope="module")
def served(tmp_path_factory, project_2d):
    """A folder with the project, a 2D image as a two-scale OME-Zarr (160 and 80 pixels) and
    as a TIFF, and a mask; a loopback web server for the folder; a pixelserve server for it."""
    folder = tmp_path_factory.mktemp("ome_cli")
    shutil.copy(project_2d, folder / "cells.ilp")
    image, _ = cells_image((160, 160), seed=41)
    write_ome_zarr(folder / "img.ome.zarr", [image, image[::2, ::2]], "yx", chunks=(32, 32))
    tifffile.imwrite(folder / "img.tif", image)
    mask = np.zeros((160, 160), np.uint8)
    mask[:, :80] = 1
    tifffile.imwrite(folder / "mask.tif", mask)
    with FolderServer(folder) as web:
        yield folder, web


def test_input_scale_picks_the_scale_per_role(served, tmp_path, capsys):
    folder, _ = served
    project = f"--project={folder / 'cells.ilp'}"
    assert run_cli(project, f"--output_filename_format={tmp_path}/tif.h5", folder / "img.tif") == 0
    for scale, shape in (("0", 160), ("s0", 160), ("-1", 80), ("s1", 80), ("", 80)):
        flags = [f"--input_scale={scale}"] if scale else []
        assert run_cli(project, *flags, f"--output_filename_format={tmp_path}/zarr_{scale}.h5",
                       folder / "img.ome.zarr") == 0
        assert exported(tmp_path / f"zarr_{scale}.h5").shape == (shape, shape, 2)
    np.testing.assert_array_equal(exported(tmp_path / "zarr_0.h5"), exported(tmp_path / "tif.h5"))
    # one value per role: the OME-Zarr raw data at full resolution, the TIFF mask as it is
    assert run_cli(project, "--input_scale=0,none", "--export_source=Simple Segmentation",
                   f"--output_filename_format={tmp_path}/masked.h5", "--raw_data", folder / "img.ome.zarr",
                   "--prediction_mask", folder / "mask.tif") == 0
    assert (exported(tmp_path / "masked.h5")[:, 80:] == 0).all()
    capsys.readouterr()
    assert run_cli(project, "--input_scale=0", f"--output_filename_format={tmp_path}/x.h5", "--raw_data",
                   folder / "img.ome.zarr", "--prediction_mask", folder / "mask.tif") == 2
    assert "only OME-Zarr images have scales" in capsys.readouterr().err
    assert run_cli(project, "--input_scale=0,0,0", folder / "img.ome.zarr") == 2
    assert "--input_scale names 3 roles but the project has 2" in capsys.readouterr().err
    assert run_cli(project, "--input_scale=s7", folder / "img.ome.zarr") == 2
    assert "has no scale 's7'; its scales are s0, s1" in capsys.readouterr().err


def test_dataset_dir_of_addresses(served, tmp_path):
    """ilastik's DatasetInfo.default_output_dir: the folder holding the image for a file://
    address; the project's folder for http(s), which has no folder to write to."""
    folder, web = served
    project = tmp_path / "project" / "cells.ilp"
    project.parent.mkdir()
    shutil.copy(folder / "cells.ilp", project)
    images = tmp_path / "images"
    shutil.copytree(folder / "img.ome.zarr", images / "img.ome.zarr")
    assert run_cli(f"--project={project}", f"{web.url}/img.ome.zarr/s1") == 0
    assert (project.parent / "s1_Probabilities.h5").exists()
    assert run_cli(f"--project={project}", (images / "img.ome.zarr" / "s0").as_uri()) == 0
    assert exported(images / "s0_Probabilities.h5").shape == (160, 160, 2)


def test_url_policy():
    policy = UrlPolicy(["https://data.example.org/zarr/", "http://127.0.0.1:8000"])
    policy.check("https://DATA.example.org/zarr/cells.ome.zarr/0")
    policy.check("http://127.0.0.1:8000/anything.zarr")
    for url, words in [("https://data.example.org/zarrs/x.zarr", "outside the addresses"),
                       ("https://data.example.org/zarr/../secret.zarr", "'..'"),
                       ("https://data.example.org/zarr/%2e%2e/secret.zarr", "'..'"),
                       ("https://data.example.org/zarr/a%2Fb.zarr", "encoded slash"),
                       ("https://user:pw@data.example.org/zarr/x.zarr", "user name or password"),
                       ("http://data.example.org/zarr/x.zarr", "outside the addresses"),
                       ("http://127.0.0.1:8001/x.zarr", "outside the addresses"),
                       ("http://169.254.169.254/latest/meta-data", "outside the addresses")]:
        with pytest.raises(PathDenied, match=words):
            policy.check(url)
    with pytest.raises(PathDenied, match="reads none: start it with --allowed-url"):
        UrlPolicy().check("https://data.example.org/zarr/x.zarr")
    with pytest.raises(UserError, match="not an http:// or https:// address"):
        UrlPolicy(["ftp://data.example.org/"])


def test_headless_on_a_server_with_addresses(served, tmp_path, capsys):
    """file:// addresses are files (inside the allowed roots); web addresses need --allowed-url;
    the scale read is the one the local run chose (--input_scale)."""
    folder, web = served
    project = f"--project={folder / 'cells.ilp'}"
    local = tmp_path / "local.h5"
    assert run_cli(project, "--input_scale=0", f"--output_filename_format={local}", folder / "img.ome.zarr") == 0
    closed = Server(ServerConfig(allowed_roots=(str(folder),)))
    opened = Server(ServerConfig(allowed_roots=(str(folder),), allowed_urls=(f"{web.url}/",)))
    for server in (closed, opened):
        server.start()
    try:
        at = {name: f"--server=127.0.0.1:{server.port}" for name, server in (("closed", closed), ("opened", opened))}
        assert run_cli(project, at["closed"], "--input_scale=0", f"--output_filename_format={tmp_path}/file.h5",
                       (folder / "img.ome.zarr").as_uri()) == 0
        np.testing.assert_array_equal(exported(tmp_path / "file.h5"), exported(local))
        capsys.readouterr()
        assert run_cli(project, at["closed"], f"--output_filename_format={tmp_path}/refused.h5",
                       f"{web.url}/img.ome.zarr") == 2
        error = capsys.readouterr().err
        assert "is a web address, and this server reads none: start it with --allowed-url" in error
        assert not (tmp_path / "refused.h5").exists()
        assert run_cli(project, at["opened"], "--input_scale=0", f"--output_filename_format={tmp_path}/web.h5",
                       f"{web.url}/img.ome.zarr") == 0
        np.testing.assert_array_equal(exported(tmp_path / "web.h5"), exported(local))
        # an OME-Zarr result is named after the scale read (here the default, the lowest)
        assert run_cli(project, at["opened"], "--output_format=single-scale OME-Zarr",
                       f"--output_filename_format={tmp_path}/web_lowest", f"{web.url}/img.ome.zarr") == 0
        assert sorted(path.name for path in (tmp_path / "web_lowest.zarr").iterdir()
                      if not path.name.startswith(".")) == ["s1"]
        outside = tmp_path / "outside.ome.zarr"
        shutil.copytree(folder / "img.ome.zarr", outside)
        assert run_cli(project, at["opened"], outside.as_uri()) == 2
        assert "outside the server's allowed roots" in capsys.readouterr().err
    finally:
        for server in (closed, opened):
            server.stop()


def test_training_on_an_address_stores_it_with_its_working_scale(tmp_path):
    image, truth = cells_image((128, 128), seed=42)
    write_ome_zarr(tmp_path / "train.ome.zarr", [image, image[::2, ::2]], "yx", chunks=(32, 32))
    tifffile.imwrite(tmp_path / "labels.tif", scribbles(truth, seed=42))
    project = tmp_path / "trained.ilp"
    with FolderServer(tmp_path) as web:
        address = f"{web.url}/train.ome.zarr/s0"
        assert train_main(["--raw_data", address, "--labels", str(tmp_path / "labels.tif"), "--trees", "5",
                           "--seed", "0", "--output", str(project)]) == 0
        with open_h5(project) as file:
            lane = file["Input Data/infos/lane0000/Raw Data"]
            assert lane["__class__"][()] == b"MultiscaleUrlDatasetInfo"
            assert lane["filePath"][()].decode() == address
            assert (lane["working_scale"][()], bool(lane["scale_locked"][()])) == (b"s0", True)
            assert read_project_file(file, project).training_raw.working_scale == "s0"
        # retraining from the stored lane reads the stored scale (the default would be s1)
        assert train_main(["--project", str(project), "--trees", "5", "--seed", "1",
                           "--output", str(tmp_path / "again.ilp")]) == 0
    # ilastik 1.4.1b13 stored the working scale as an integer, 0 meaning the default
    with h5py.File(project, "a") as file:
        del file["Input Data/infos/lane0000/Raw Data/working_scale"]
        file["Input Data/infos/lane0000/Raw Data/working_scale"] = 0
    with open_h5(project) as file:
        assert read_project_file(file, project).training_raw.working_scale == ""


def test_export_progress_counts_the_pyramid(tmp_path):
    image = np.random.default_rng(0).random((1100, 700)).astype(np.float32)
    calls = []
    settings = ExportSettings(output_format="multi-scale OME-Zarr", output_filename_format=str(tmp_path / "pyr"))
    export_result(InMemoryResult(image, "yx"), settings, {}, progress=lambda done, total: calls.append((done, total)))
    levels = image.size + 550 * 350 + 275 * 175  # s0, s1, s2 (the last fits one chunk)
    assert calls[-1] == (levels, levels)
    assert all(total == levels for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert max(done for done, _ in calls if done <= image.size) == image.size


def renamed_ome_zarr(folder: Path, levels: list[np.ndarray], names: list[str], translation: list[float]) -> Path:
    """A yx OME-Zarr image with scales named `names` (as bioformats2raw: 0, 1, ...), pixel
    size 0.5 um, and a translation at the scale level (only the first) and the image level."""
    write_ome_zarr(folder, levels, "yx", chunks=(32, 32), pixel_size={"y": 0.5, "x": 0.5})
    attributes = json.loads((folder / ".zattrs").read_text())
    entry = attributes["multiscales"][0]
    for index, (dataset, name) in enumerate(zip(entry["datasets"], names)):
        (folder / dataset["path"]).rename(folder / name)
        dataset["path"] = name
        if index == 0:
            dataset["coordinateTransformations"].append({"type": "translation", "translation": [1.0, 2.0]})
    entry["coordinateTransformations"] = [{"type": "scale", "scale": [1.0, 1.0]},
                                          {"type": "translation", "translation": translation}]
    (folder / ".zattrs").write_text(json.dumps(attributes))
    return folder


def test_ome_zarr_export_follows_an_ome_zarr_input(project_2d, tmp_path):
    """ilastik's rule: the input's scale names and shapes from the scale read on, the input's
    offset added to the cutout's, and the read scale's name for a single scale."""
    import zarr

    image, _ = cells_image((200, 160), seed=43)
    source = renamed_ome_zarr(tmp_path / "in.ome.zarr", [image, image[::2, ::2], image[::4, ::4]], ["0", "1", "2"],
                              [10.0, 20.0])
    project = f"--project={project_2d}"

    def multiscale(name):
        group = zarr.open_group(str(tmp_path / f"{name}.zarr"), mode="r")
        entry = group.attrs["multiscales"][0]
        return {d["path"]: group[d["path"]].shape for d in entry["datasets"]}, entry

    assert run_cli(project, "--input_scale=0", "--output_format=multi-scale OME-Zarr",
                   f"--output_filename_format={tmp_path}/full", source) == 0
    shapes, entry = multiscale("full")
    assert shapes == {"0": (1, 2, 1, 200, 160), "1": (1, 2, 1, 100, 80), "2": (1, 2, 1, 50, 40)}
    assert [d["coordinateTransformations"][0]["scale"] for d in entry["datasets"]] == \
        [[1, 1, 1, 0.5, 0.5], [1, 1, 1, 1.0, 1.0], [1, 1, 1, 2.0, 2.0]]
    assert entry["coordinateTransformations"][1]["translation"] == [0, 0, 0, 11.0, 22.0]

    assert run_cli(project, "--input_scale=1", "--output_format=multi-scale OME-Zarr",
                   "--cutout_subregion=[(10, 20, 0), (90, 60, 2)]", f"--output_filename_format={tmp_path}/cut",
                   source) == 0
    shapes, entry = multiscale("cut")
    assert shapes == {"1": (1, 2, 1, 80, 40), "2": (1, 2, 1, 40, 20)}  # no upscale to "0"
    # the cutout's offset at scale 1 (pixel size 1 um) plus the image's translation
    assert entry["coordinateTransformations"][1]["translation"] == [0, 0, 0, 20.0, 40.0]

    assert run_cli(project, "--output_format=single-scale OME-Zarr", f"--output_filename_format={tmp_path}/lowest",
                   source) == 0
    shapes, entry = multiscale("lowest")
    assert shapes == {"2": (1, 2, 1, 50, 40)}
    # y and x are scaled in the input: their pixel size stays with the scale
    assert entry["datasets"][0]["coordinateTransformations"][0]["scale"] == [1, 1, 1, 2.0, 2.0]
    assert entry["coordinateTransformations"][1]["translation"] == [0, 0, 0, 10.0, 20.0]
