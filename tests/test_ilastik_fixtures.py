"""ilastik's own projects, run through pixelserve's command line, against ilastik's results."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import assert_matches_ilastik, fixtures_dir
from pixelserve.headless.cli import main

# (project, input, input axes like ilastik's own headless test, export source, result file)
API_CASES = [
    ("PixelClass.ilp", "Data_1channel.png", "yxc", "Probabilities", "res-Data_1channel_pc1xyc.npy"),
    ("2464_PixelClassification_xy_input.ilp", "Data_1channel.png", "yxc", "Probabilities",
     "res-Data_1channel_pc1xy.npy"),
    ("PixelClass3Channel.ilp", "Data_3channel.png", "yxc", "Probabilities", "res-Data_3channel_pc3c.npy"),
    ("PixelClass3D.ilp", "Data_3D.npy", "zyxc", "Probabilities", "res-Data_3D_pc3d.npy"),
    ("PixelClass3D_2D_3D_feature_mix.ilp", "Data_3D.npy", "zyxc", "Probabilities",
     "res-Data_3D_pc3d2dfm.npy"),
    ("Autocontext_2D.ilp", "Data_1channel.png", "yxc", "Probabilities Stage 1", "res-Data_1channel_ac2ds1.npy"),
    ("Autocontext_2D.ilp", "Data_1channel.png", "yxc", "Probabilities Stage 2", "res-Data_1channel_ac2ds2.npy"),
    ("Autocontext_3D.ilp", "Data_3D.npy", "zyxc", "Probabilities Stage 1", "res-Data_3D_ac2ds1.npy"),
    ("Autocontext_3D.ilp", "Data_3D.npy", "zyxc", "Probabilities Stage 2", "res-Data_3D_ac2ds2.npy"),
]

# 2018 projects (ilastik 1.2-1.3) whose results ilastik stored in inputdata/*_Probabilities.h5.
LEGACY_CASES = [
    ("PixelClassification2d.ilp", "2d.h5/data", "2d_Probabilities.h5"),
    ("PixelClassification2d3c.ilp", "2d3c.h5/data", "2d3c_Probabilities.h5"),
    ("PixelClassification3d.ilp", "3d.h5/data", "3d_Probabilities.h5"),
    ("PixelClassification3d2c.ilp", "3d2c.h5/data", "3d2c_Probabilities.h5"),
    ("PixelClassification5t2d1c.ilp", "5t2d1c.h5/data", "5t2d1c_Probabilities.h5"),
]


def run_cli(*args) -> int:
    return main(["--headless", *[str(a) for a in args]])


@pytest.mark.parametrize("project, image, axes, source, result", API_CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in API_CASES])
def test_api_projects_match_ilastik(api_projects, tmp_path, project, image, axes, source, result):
    output = tmp_path / "out.npy"
    code = run_cli(f"--project={api_projects / project}", api_projects / image,
                   "--input_axes", axes, "--export_source", source,
                   "--output_format", "numpy", "--output_filename_format", output)
    assert code == 0
    assert_matches_ilastik(np.load(output), np.load(api_projects / result))


@pytest.mark.parametrize("project, image, reference", LEGACY_CASES, ids=[c[0] for c in LEGACY_CASES])
def test_2018_projects_match_ilastik(test_projects, tmp_path, project, image, reference):
    inputs = fixtures_dir() / "inputdata"
    output = tmp_path / "out.h5"
    code = run_cli(f"--project={test_projects / project}", f"--raw_data={inputs / image}",
                   "--output_format=hdf5", f"--output_filename_format={output}")
    assert code == 0
    with h5py.File(output, "r") as ours, h5py.File(inputs / reference, "r") as theirs:
        assert_matches_ilastik(ours["exported_data"][()], theirs["exported_data"][()])


@pytest.mark.parametrize("project, message", [
    ("PixelClassNoClassifier.ilp", "no trained classifier"),
    ("PixelClassNoData.ilp", "holds no input data"),
])
def test_broken_projects_give_clear_errors(api_projects, tmp_path, capsys, project, message):
    code = run_cli(f"--project={api_projects / project}", api_projects / "Data_1channel.png",
                   f"--output_filename_format={tmp_path / 'out'}")
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Fix:" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_every_autocontext_export_source(api_projects, tmp_path):
    """Each export source of a real autocontext project, checked against its siblings."""
    results = {}
    for source in ["Probabilities Stage 1", "Probabilities Stage 2", "Probabilities All Stages",
                   "Simple Segmentation Stage 2", "Uncertainty Stage 1", "Features Stage 2",
                   "Input Stage 2", "Labels Stage 1"]:
        output = tmp_path / source.replace(" ", "_")
        assert run_cli(f"--project={api_projects / 'Autocontext_2D.ilp'}", "--input_axes=yxc",
                       api_projects / "Data_1channel.png", f"--export_source={source}",
                       "--output_format=numpy", f"--output_filename_format={output}") == 0
        results[source] = np.load(f"{output}.npy")
    stage1, stage2 = results["Probabilities Stage 1"], results["Probabilities Stage 2"]
    np.testing.assert_array_equal(results["Probabilities All Stages"], np.concatenate([stage1, stage2], -1))
    np.testing.assert_array_equal(results["Simple Segmentation Stage 2"][..., 0], stage2.argmax(-1) + 1)
    top = np.sort(stage1, -1)
    np.testing.assert_allclose(results["Uncertainty Stage 1"][..., 0], 1 - (top[..., -1] - top[..., -2]), atol=1e-6)
    assert results["Features Stage 2"].shape == (128, 128, 39)   # as the stored feature_names say
    stage_input = results["Input Stage 2"]
    assert stage_input.dtype == np.uint8 and stage_input.shape == (128, 128, 3)
    np.testing.assert_array_equal(stage_input[..., 1:], np.floor(stage1 * 255).astype(np.uint8))
    assert not results["Labels Stage 1"].any()
