"""The headless command line: ilastik's flags, and a clear error for every bad input."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from pixelserve.headless.cli import main
from pixelserve.synthetic import cells_image


@pytest.fixture
def image_2d(tmp_path) -> Path:
    image, _ = cells_image((96, 112), seed=8)
    tifffile.imwrite(tmp_path / "cells.tif", image)
    return tmp_path / "cells.tif"


def headless(*args) -> int:
    return main(["--headless", *[str(a) for a in args]])


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_dashes_and_underscores_are_the_same_flag(project_2d, image_2d, tmp_path):
    assert headless(f"--project={project_2d}", "--output-format=numpy",
                    f"--output-filename-format={tmp_path}/dashes", image_2d) == 0
    assert headless(f"--project={project_2d}", "--output_format", "numpy",
                    "--output_filename_format", f"{tmp_path}/underscores", image_2d) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "dashes.npy"), np.load(tmp_path / "underscores.npy"))
    assert np.load(tmp_path / "dashes.npy").shape == (96, 112, 2)


def test_readonly_is_a_bare_flag_like_ilastik4ij_passes_it(project_2d, image_2d, tmp_path):
    assert headless("--readonly", f"--project={project_2d}", "--output_format=numpy",
                    f"--output_filename_format={tmp_path}/a", "--readonly", image_2d) == 0
    assert headless("--readonly=true", f"--project={project_2d}", "--output_format=numpy",
                    f"--output_filename_format={tmp_path}/b", image_2d) == 0
    assert (tmp_path / "a.npy").exists() and (tmp_path / "b.npy").exists()


def test_unquoted_multiword_values(project_2d, image_2d, tmp_path):
    assert headless(f"--project={project_2d}", "--export_source", "Simple", "Segmentation",
                    "--output_format", "compressed", "hdf5",
                    f"--output_filename_format={tmp_path}/seg", image_2d) == 0
    with h5py.File(tmp_path / "seg.h5") as file:
        data = file["exported_data"]
        assert data.dtype == np.uint8 and data.shape == (96, 112, 1)
        assert data.compression == "gzip"


def test_unknown_flag_names_the_closest_and_is_not_an_input(project_2d, image_2d, capsys):
    assert headless(f"--project={project_2d}", "--output_fromat=tif", image_2d) == 2
    line = error_line(capsys)
    assert "--output_fromat" in line and "Did you mean --output_format?" in line


def test_ilastik_flags_pixelserve_does_not_take_say_what_to_do(project_2d, image_2d, capsys):
    assert headless(f"--project={project_2d}", "--retrain", image_2d) == 2
    line = error_line(capsys)
    assert "--retrain is an ilastik flag that pixelserve does not take" in line and "pixelserve train" in line


@pytest.mark.parametrize("make_input, expected", [
    (lambda d: d / "missing.tif", "not found"),
    (lambda d: _h5(d, {"a/b": np.zeros((40, 40), np.uint8)}) + "/a/c", "a/b"),
    (lambda d: _h5(d, {"one": np.zeros((40, 40), np.uint8), "two": np.zeros((40, 40), np.uint8)}), "two"),
    (lambda d: _tif(d, np.zeros((40, 40, 3), np.uint8)), "channel"),
    (lambda d: _h5_with_axes(d, np.zeros((20, 40, 40), np.uint8), "zyx"), "3D"),
    (lambda d: _tif(d, np.zeros((5, 5), np.uint8)), "small"),
])
def test_bad_inputs_give_one_line_and_exit_code_2(project_2d, tmp_path, capsys, make_input, expected):
    path = make_input(tmp_path)
    assert headless(f"--project={project_2d}", f"--output_filename_format={tmp_path}/out", path) == 2
    line = error_line(capsys)
    assert expected in line, line
    assert not list(tmp_path.glob("out*"))


def test_unknown_export_source_lists_the_valid_ones(project_2d, image_2d, capsys):
    assert headless(f"--project={project_2d}", "--export_source=Probabilites", image_2d) == 2
    line = error_line(capsys)
    assert "Did you mean 'Probabilities'?" in line and "'Simple Segmentation'" in line


def test_role_flags_and_positional_files_cannot_mix(project_2d, image_2d, capsys):
    assert headless(f"--project={project_2d}", "--raw_data", image_2d, "--export_source",
                    "Probabilities", image_2d) == 2
    assert "--raw_data" in error_line(capsys)


def test_project_of_another_workflow_is_refused(tmp_path, image_2d, capsys):
    project = tmp_path / "carving.ilp"
    with h5py.File(project, "w") as file:
        file["workflowName"] = b"Carving"
    assert headless(f"--project={project}", image_2d) == 2
    assert "Carving" in error_line(capsys)


def test_pickled_classifier_is_refused_and_never_unpickled(project_2d, image_2d, tmp_path, capsys):
    project = tmp_path / "sklearn.ilp"
    shutil.copy(project_2d, project)
    marker = tmp_path / "pickle_ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with h5py.File(project, "a") as file:
        forests = file["PixelClassification/ClassifierForests"]
        del forests["Forest0000"]
        forests["pickled_classifier"] = np.void(pickle.dumps(Payload(), protocol=0))
        del forests["pickled_type"]
        forests["pickled_type"] = b"csklearn.ensemble._forest\nRandomForestClassifier\np0\n."
    assert headless(f"--project={project}", image_2d) == 2
    assert "pickle" in error_line(capsys)
    assert not marker.exists()


def test_prediction_never_modifies_the_project(project_2d, image_2d, tmp_path):
    before = hashlib.sha256(project_2d.read_bytes()).hexdigest(), project_2d.stat().st_mtime_ns
    assert headless(f"--project={project_2d}", f"--output_filename_format={tmp_path}/p", image_2d) == 0
    assert (hashlib.sha256(project_2d.read_bytes()).hexdigest(), project_2d.stat().st_mtime_ns) == before


def test_console_script_exit_codes(project_2d, image_2d, tmp_path):
    script = Path(sys.executable).parent / "pixelserve"
    ok = subprocess.run([script, "--headless", f"--project={project_2d}", "--output_format=tif",
                         f"--output_filename_format={tmp_path}/{{nickname}}_{{result_type}}", image_2d],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert f"Wrote {tmp_path}/cells_Probabilities.tif" in ok.stdout
    bad = subprocess.run([script, "--headless", f"--project={tmp_path}/nope.ilp", image_2d],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nope.ilp" in bad.stderr


def _h5(folder: Path, datasets: dict) -> str:
    path = folder / "input.h5"
    with h5py.File(path, "w") as file:
        for name, data in datasets.items():
            file[name] = data
    return str(path)


def _h5_with_axes(folder: Path, data: np.ndarray, axes: str) -> str:
    from pixelserve.io.axes import vigra_axistags_json

    path = folder / "volume.h5"
    with h5py.File(path, "w") as file:
        file["data"] = data
        file["data"].attrs["axistags"] = vigra_axistags_json(axes)
    return f"{path}/data"


def _tif(folder: Path, data: np.ndarray) -> Path:
    path = folder / "input.tif"
    tifffile.imwrite(path, data)
    return path
