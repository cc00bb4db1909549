"""ilastik's own headless tests, case by case, run against pixelserve's command line.

Each test names the ilastik test it reproduces (github:ilastik/ilastik, tests/test_ilastik/):
- test_workflows/test_HeadlessPixelClassificationWorkflow.py (axes, --ignore_training_axistags,
  OME-Zarr in and out, pixel sizes),
- test_applets/pixelClassification/testPixelClassificationHeadless.py (a 5D project, masks,
  relative paths, png sequences, a project whose training data is gone),
- test_applets/pixelClassification/testHeadlessLaunch.py and test_workflows/test_all/
  testAllHeadless.py (--new_project, blank projects),
- test_workflows/axesOrderPreservation/testAxesOrderPreservation.py (Pixel Classification and
  Autocontext on permuted axes),
- test_workflows/test_export_data_semantics.py (which sources are label images),
- test_workflows/test_DatasetInfo.py (nicknames and path expansion),
- test_experimental/test_api/test_pipelines.py (refused channel counts and dimensions; its
  predictions are compared in test_ilastik_fixtures.py).
Where pixelserve deliberately differs, the test says how and checks pixelserve's behaviour.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import FolderServer, fixtures_dir
from pixelserve.headless.cli import main
from pixelserve.io import open_dataset
from pixelserve.io.axes import vigra_axistags_json
from pixelserve.training.cli import main as train_main
from pixelserve.workflows import LaneRequest, load_workflow


def run_cli(*args) -> int:
    return main(["--headless", *[str(a) for a in args]])


def write_h5(path: Path, data: np.ndarray, axes: str) -> str:
    """ilastik's create_h5: a dataset 'data' with vigra axistags; returns path/data."""
    with h5py.File(path, "w") as file:
        file.create_dataset("data", data=data).attrs["axistags"] = vigra_axistags_json(axes)
    return f"{path}/data"


def read_h5(path, internal="exported_data") -> tuple[np.ndarray, str]:
    """(data, axes from its axistags) of an HDF5 result."""
    with h5py.File(path, "r") as file:
        dataset = file[internal]
        axes = "".join(axis["key"] for axis in json.loads(dataset.attrs["axistags"])["axes"])
        return dataset[()], axes


def to_axes(data: np.ndarray, axes: str, wanted: str) -> np.ndarray:
    """`data` (in `axes`) in the order `wanted`: singleton axes added or dropped."""
    for axis in wanted:
        if axis not in axes:
            data, axes = data[..., None], axes + axis
    for axis in [a for a in axes if a not in wanted]:
        data, axes = data.squeeze(axes.index(axis)), axes.replace(axis, "")
    return data.transpose([axes.index(a) for a in wanted])


@pytest.fixture(scope="module")
def inputdata() -> Path:
    return fixtures_dir() / "inputdata"


# --- test_HeadlessPixelClassificationWorkflow.py -------------------------------------------------

@pytest.fixture(scope="module")
def random_2d3c(tmp_path_factory) -> dict[str, str]:
    """The test's random 100 x 100 x 3 image, as yxc and as its cyx permutation (with axistags)."""
    folder = tmp_path_factory.mktemp("random_2d3c")
    data = np.random.default_rng(0).random((100, 100, 3))
    return {"yxc": write_h5(folder / "yxc.h5", data, "yxc"),
            "cyx": write_h5(folder / "cyx.h5", data.transpose(2, 0, 1), "cyx")}


def test_headless_2d3c_with_same_raw_data_axis(test_projects, random_2d3c, tmp_path):
    output = tmp_path / "out_100x100y3c.h5"
    assert run_cli(f"--project={test_projects / 'PixelClassification2d3c.ilp'}", f"--output_filename_format={output}",
                   "--output_format=hdf5", f"--raw-data={random_2d3c['yxc']}") == 0
    data, axes = read_h5(output)
    assert (data.shape, axes) == ((100, 100, 2), "yxc")


def test_headless_2d3c_with_permuted_raw_data_axis_from_training_data_raises(test_projects, random_2d3c, tmp_path,
                                                                             capsys):
    """ilastik applies the training data's axes (yxc) to the cyx file and fails. pixelserve reads
    the file's own axistags (docs/headless.md: where the two differ); ilastik's behaviour is
    --input_axes with the training data's axes, which fails with a clear message."""
    project = f"--project={test_projects / 'PixelClassification2d3c.ilp'}"
    output = tmp_path / "out_3c100x100y.h5"
    assert run_cli(project, f"--output_filename_format={output}", "--output_format=hdf5",
                   f"--raw-data={random_2d3c['cyx']}") == 0
    assert read_h5(output)[0].shape == (2, 100, 100)
    capsys.readouterr()
    assert run_cli(project, f"--output_filename_format={tmp_path / 'forced.h5'}", "--output_format=hdf5",
                   "--input_axes=yxc", f"--raw-data={random_2d3c['cyx']}") == 2
    error = capsys.readouterr().err
    assert "has 100 channel(s)" in error and "trained on 3-channel" in error and "Fix:" in error
    assert not (tmp_path / "forced.h5").exists()


@pytest.mark.parametrize("flags", [["--input-axes=cyx"], ["--ignore_training_axistags"]],
                         ids=["explicit_axes", "use_h5_tags"])
def test_headless_2d3c_with_permuted_raw_data_axis(test_projects, random_2d3c, tmp_path, flags):
    """ilastik's _explicit_axes and _use_h5_tags cases: both give the yxc result, in cyx order."""
    project = f"--project={test_projects / 'PixelClassification2d3c.ilp'}"
    for name in ("yxc", "cyx"):
        assert run_cli(project, f"--output_filename_format={tmp_path / name}.h5", "--output_format=hdf5",
                       *(flags if name == "cyx" else []), f"--raw-data={random_2d3c[name]}") == 0
    permuted, axes = read_h5(tmp_path / "cyx.h5")
    assert axes == "cyx"
    np.testing.assert_array_equal(permuted, read_h5(tmp_path / "yxc.h5")[0].transpose(2, 0, 1))


def ilastik_ome_zarr_store(folder: Path) -> Path:
    """ilastik's ome_zarr_store_on_disc: uint16 cyx 3 x 100 x 100 at s0 and s1 (zarr v2, '/'
    chunk keys, no .zgroup at the root), and a first multiscales entry pointing elsewhere."""
    import zarr

    store = folder / "some.zarr"
    store.mkdir()
    image = np.random.default_rng(1).integers(0, 256, (3, 100, 100), dtype=np.uint16)
    for path, level in (("s0", image), ("s1", image[:, ::2, ::2])):
        zarr.create_array(store=str(store / path), shape=level.shape, chunks=(3, 64, 64), dtype=level.dtype,
                          zarr_format=2, chunk_key_encoding={"name": "v2", "separator": "/"})[...] = level

    def transformations(factor):
        return [{"scale": [float(factor)] * 3, "type": "scale"}, {"translation": [0.0] * 3, "type": "translation"}]

    (store / ".zattrs").write_text(json.dumps({"multiscales": [
        {"version": "0.4", "axes": [{"type": "space", "name": "y"}, {"type": "space", "name": "x"}],
         "datasets": [{"path": "wrong/s0"}]},
        {"name": "some.zarr", "type": "Sample", "version": "0.4",
         "axes": [{"type": "space", "name": "c"}, {"type": "space", "name": "y", "unit": "pixel"},
                  {"type": "space", "name": "x", "unit": "pixel"}],
         "datasets": [{"path": "s0", "coordinateTransformations": transformations(1)},
                      {"path": "s1", "coordinateTransformations": transformations(2)}],
         "coordinateTransformations": []},
    ]}))
    return store


@pytest.mark.parametrize("where", ["file_uri", "http_uri"])
def test_headless_from_ome_zarr(test_projects, tmp_path, where):
    """ilastik's test_headless_from_ome_zarr_file_uri and _http_uri: the raw scale s0 named in
    the address (the default would be the lowest), with --ignore_training_axistags."""
    store = ilastik_ome_zarr_store(tmp_path)
    output = tmp_path / "out_100x100y3c.h5"
    with FolderServer(tmp_path) as server:
        address = (store / "s0").as_uri() if where == "file_uri" else f"{server.url}/some.zarr/s0"
        assert run_cli(f"--project={test_projects / 'PixelClassification2d3c.ilp'}",
                       f"--output_filename_format={output}", "--output_format=hdf5", "--ignore_training_axistags",
                       f"--raw-data={address}") == 0
    exported, axes = read_h5(output)
    assert exported.shape == (2, 100, 100) and axes == "cyx"
    assert np.count_nonzero(exported) > 10000


def test_headless_ome_zarr_multiscale_export(test_projects, inputdata, tmp_path):
    """Three scales of 2d.h5's segmentation (1024 x 1344), by nearest neighbour: no fractions."""
    import zarr

    output = tmp_path / "out_2d.zarr"
    assert run_cli(f"--project={test_projects / 'PixelClassification2d.ilp'}", f"--raw-data={inputdata / '2d.h5'}",
                   f"--output_filename_format={output}", "--ignore_training_axistags",
                   "--output_format=multi-scale OME-Zarr", "--export_source=simple segmentation",
                   "--export_dtype=float32") == 0
    group = zarr.open_group(str(output), mode="r")
    assert sorted(group.array_keys()) == ["s0", "s1", "s2"]
    scaled = group["s1"][...]
    assert scaled.shape == (1, 1, 1, 512, 672)
    np.testing.assert_array_equal(scaled.astype(np.uint8), scaled)
    assert group.attrs["multiscales"][0]["metadata"]["kwargs"]["order"] == 0


def test_headless_pixel_size_preservation(test_projects, inputdata, tmp_path):
    """ilastik's input 2d_with_pixel_sizes.tif was never published: an OME-TIFF with its pixel
    sizes (x 5 cm, y 6 nm, as the project's training data) stands in for it."""
    image = h5py.File(inputdata / "2d.h5", "r")["data"][:64, :64]
    raw = tmp_path / "2d_with_pixel_sizes.tif"
    tifffile.imwrite(raw, image, ome=True, metadata={"axes": "YX", "PhysicalSizeX": 5.0, "PhysicalSizeXUnit": "cm",
                                           "PhysicalSizeY": 6.0, "PhysicalSizeYUnit": "nm"})
    output = tmp_path / "out_2d_units.h5"
    assert run_cli(f"--project={test_projects / 'PixelClassification2d_units.ilp'}", f"--raw-data={raw}",
                   f"--output_filename_format={output}", "--ignore_training_axistags", "--output_format=hdf5") == 0
    with h5py.File(output, "r") as file:
        attributes = file["exported_data"].attrs
        resolution = {axis["key"]: axis["resolution"] for axis in json.loads(attributes["axistags"])["axes"]}
        units = json.loads(attributes["axis_units"])
    assert resolution["x"] == pytest.approx(5.0, abs=1e-8) and resolution["y"] == pytest.approx(6.0, abs=1e-8)
    assert (units["x"], units["y"]) == ("cm", "nm")


# --- testPixelClassificationHeadless.py -----------------------------------------------------------

@pytest.fixture(scope="module")
def headless_class_setup(tmp_path_factory) -> dict[str, Path]:
    """setup_class: random tzyxc (2, 20, 20, 5, 1) data, a mask of ones, and projects trained on
    two label boxes; project and data live in different folders."""
    project_dir, data_dir = tmp_path_factory.mktemp("project_dir"), tmp_path_factory.mktemp("data_dir")
    rng = np.random.default_rng(2)
    paths = {"sample": data_dir / "random_data.npy", "raw": data_dir / "raw_data.npy", "mask": data_dir / "mask.npy"}
    for name in ("sample", "raw"):
        np.save(paths[name], rng.integers(0, 256, (2, 20, 20, 5, 1), dtype=np.uint8))
    np.save(paths["mask"], np.ones((2, 20, 20, 5, 1), np.uint8))
    labels = np.zeros((2, 20, 20, 5), np.uint8)
    labels[0:1, 0:10, 0:10, 0:1] = 1
    labels[0:1, 0:10, 10:20, 0:1] = 2
    np.save(data_dir / "labels.npy", labels)
    # ilastik's test selects Gaussian smoothing, Laplacian and structure tensor at sigma 0.3;
    # pixelserve trains no structure tensor at 0.3 (its inner gradient cannot be that small)
    for name, raw in (("test_project.ilp", paths["sample"]), ("test_project_raw_data.ilp", paths["raw"])):
        assert train_main(["--raw_data", str(raw), "--labels", str(data_dir / "labels.npy"), "--features",
                           "gaussian:0.3 laplacian:0.3", "--trees", "10", "--seed", "0",
                           "--output", str(project_dir / name)]) == 0
    return {**paths, "project": project_dir / "test_project.ilp",
            "project_raw_data": project_dir / "test_project_raw_data.ilp", "data_dir": data_dir}


def test_basic(headless_class_setup, monkeypatch):
    """A relative --raw_data path (against the working directory, not the project), an absolute
    --prediction_mask, an internal path and {dataset_dir}."""
    paths = headless_class_setup
    monkeypatch.chdir(paths["data_dir"])
    assert run_cli(f"--project={paths['project']}", "--output_format=hdf5",
                   "--output_filename_format={dataset_dir}/{nickname}_prediction.h5",
                   "--output_internal_path=volume/pred_volume", "--raw_data",
                   os.path.relpath(paths["sample"]), "--prediction_mask", paths["mask"]) == 0
    with h5py.File(paths["data_dir"] / "random_data_prediction.h5", "r") as file:
        assert file["volume/pred_volume"].shape == (2, 20, 20, 5, 2)


def test_lots_of_options(headless_class_setup):
    """png sequence, --output_axis_order=zxyc, a 5D cutout and a range mapping; read back as a
    z stack of yx images, the result is (t, z, y, x, c) = (1, 10, 10, 5, 1)."""
    paths = headless_class_setup
    assert run_cli(f"--project={paths['project']}", "--export_source=Simple Segmentation",
                   "--output_format=png sequence",
                   "--output_filename_format={dataset_dir}/{nickname}_segmentation_z{slice_index}.png",
                   "--export_dtype=uint8", "--output_axis_order=zxyc", "--pipeline_result_drange=(0,2)",
                   "--export_drange=(0,255)", "--cutout_subregion=[(0,10,10,0,0), (1, 20, 20, 5, 1)]",
                   paths["sample"]) == 0
    stack = open_dataset(str(paths["data_dir"] / "random_data_segmentation_z*.png"))
    assert (stack.axes, stack.shape) == ("zyxc", (10, 10, 5, 1))
    assert set(np.unique(stack.read())) <= {127, 255}  # classes 1 and 2 mapped from (0, 2) to (0, 255)


def test_headless_no_raw_data(headless_class_setup):
    """The project's training data is gone: prediction does not need it."""
    paths = headless_class_setup
    paths["raw"].unlink()
    assert run_cli(f"--project={paths['project_raw_data']}", "--export_source=Simple Segmentation",
                   "--output_internal_path=volume/segm_volume", "--output_format=hdf5",
                   "--output_filename_format={dataset_dir}/{nickname}_segm.h5", "--export_dtype=uint8",
                   paths["sample"]) == 0
    with h5py.File(paths["data_dir"] / "random_data_segm.h5", "r") as file:
        assert file["volume/segm_volume"].shape == (2, 20, 20, 5, 1)


# --- testHeadlessLaunch.py, testAllHeadless.py ----------------------------------------------------

@pytest.mark.parametrize("workflow", ["Pixel Classification", "AutocontextTwoStage"])
def test_new_project_is_refused_with_its_own_message(tmp_path, capsys, workflow):
    """ilastik creates a blank project; pixelserve never creates projects from --headless and
    says so first (not "No project given")."""
    project = tmp_path / f"test_project_{'_'.join(workflow.split())}.ilp"
    assert main(["--headless", f"--new_project={project}", f"--workflow={workflow}"]) == 2
    error = capsys.readouterr().err
    assert "--new_project is an ilastik flag that pixelserve does not take" in error
    assert "pixelserve train" in error and "No project given" not in error
    assert not project.exists()


@pytest.mark.parametrize("class_name", ["PixelClassificationWorkflow", "AutocontextTwoStage"])
def test_loading_a_blank_project(tmp_path, capsys, class_name):
    """ilastik opens a blank project (as ProjectManager.createBlankProjectFile writes it) and
    exits; pixelserve recognises its workflow but refuses to run it: nothing to predict with."""
    project = tmp_path / "blank.ilp"
    with h5py.File(project, "w") as file:
        file.create_dataset("ilastikVersion", data=b"1.4.1")
        file.create_dataset("time", data=b"Thu Jul 16 16:12:54 2026")
        file.create_dataset("workflowName", data=class_name.encode())
    assert main(["--headless", f"--project={project}"]) == 2
    error = capsys.readouterr().err
    assert "blank.ilp holds no input data" in error and "Fix:" in error


# --- testAxesOrderPreservation.py -----------------------------------------------------------------

PIXEL_CASES = [("2d", "xy"), ("2d", "yx"), ("2d", "cxy"), ("2d", "yxc"), ("2d", "xyc"), ("2d", "ycx"),
               ("2d3c", "cxy"), ("2d3c", "yxc"), ("2d3c", "xyc"), ("2d3c", "ycx"),
               ("3d", "xyzc"), ("3d", "czyx"), ("3d1c", "xyzc"), ("3d1c", "czyx"), ("3d2c", "xyzc"), ("3d2c", "czyx"),
               ("5t2d1c", "tyxc"), ("5t2d1c", "txyc"), ("5t2d1c", "xytc"), ("5t2d2c", "tyxc"), ("5t2d2c", "txyc"),
               ("5t2d2c", "xytc"), ("5t3d2c", "tzyxc"), ("5t3d2c", "ztxyc"), ("5t3d2c", "xyztc")]
AUTOCONTEXT_CASES = [("2d3c", "cxy"), ("2d3c", "yxc"), ("2d3c", "xyc"), ("2d3c", "ycx"),
                     ("5t2d1c", "tyxc"), ("5t2d1c", "txcy"), ("5t2d1c", "cxyt")]
PIXEL_FLAGS = ["--export_source=Simple Segmentation", "--output_format=hdf5", "--export_dtype=uint8",
               "--pipeline_result_drange=(0,2)", "--export_drange=(0,2)"]
AUTOCONTEXT_FLAGS = ["--export_source=probabilities all stages", "--output_format=hdf5"]


# Crops of the two biggest inputs, to keep the runs short: the axes' handling does not depend
# on the size (2d.h5 is 1024 x 1344, 5t3d2c.h5 has 5 time points).
CROPS = {"2d": {"y": slice(0, 256), "x": slice(0, 320)}, "5t3d2c": {"t": slice(0, 2)}}


class AxesOrderRuns:
    """ilastik's create_input (the input file reordered to the case's axes, with axistags) and
    the headless run with --input_axes; the first result per project is the comparison."""

    def __init__(self, projects: Path, inputdata: Path, folder: Path):
        self.projects, self.inputdata, self.folder = projects, inputdata, folder
        self.compare: dict[str, tuple[np.ndarray, str]] = {}

    def create_input(self, dims: str, input_axes: str, as_uint8: bool) -> str:
        dataset = open_dataset(str(self.inputdata / f"{dims}.h5"))
        data = dataset.read(tuple(CROPS.get(dims, {}).get(axis, slice(None)) for axis in dataset.axes))
        if as_uint8 and data.dtype != np.uint8:  # ilastik's ExportMin/Max 0..255, dtype uint8
            data = np.rint((data - data.min()) / (data.max() - data.min()) * 255).astype(np.uint8)
        return write_h5(self.folder / f"{dims}_{input_axes}.h5", to_axes(data, dataset.axes, input_axes), input_axes)

    def run(self, project: str, dims: str, input_axes: str, flags: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
        """(the result in the comparison's axes, the comparison, its axes)"""
        raw = self.create_input(dims, input_axes, as_uint8=project.startswith("Autocontext"))
        output = self.folder / f"{project}{dims}_{input_axes}_result.h5"
        assert run_cli(f"--project={self.projects / f'{project}{dims}.ilp'}", *flags,
                       f"--output_filename_format={output}", f"--input_axes={input_axes}", raw) == 0
        result, axes = read_h5(output)
        assert axes == (input_axes if "c" in input_axes else input_axes + "c")
        self.compare.setdefault(project + dims, (result, axes))
        compare, compare_axes = self.compare[project + dims]
        return to_axes(result, axes, compare_axes), compare, compare_axes


@pytest.fixture(scope="module")
def axes_runs(test_projects, inputdata, tmp_path_factory) -> AxesOrderRuns:
    return AxesOrderRuns(test_projects, inputdata, tmp_path_factory.mktemp("axes_order"))


@pytest.mark.parametrize("dims, input_axes", PIXEL_CASES, ids=[f"{d}-{a}" for d, a in PIXEL_CASES])
def test_axes_order_pixel_classification(axes_runs, dims, input_axes):
    result, compare, _ = axes_runs.run("PixelClassification", dims, input_axes, PIXEL_FLAGS)
    assert np.mean(np.square(result.astype(float) - compare)) < 0.001  # ilastik's bar
    np.testing.assert_array_equal(result, compare)  # pixelserve computes in one canonical order


@pytest.mark.parametrize("dims, input_axes", AUTOCONTEXT_CASES, ids=[f"{d}-{a}" for d, a in AUTOCONTEXT_CASES])
def test_axes_order_autocontext(axes_runs, dims, input_axes):
    result, compare, _ = axes_runs.run("Autocontext", dims, input_axes, AUTOCONTEXT_FLAGS)
    assert result.shape == compare.shape
    assert np.allclose(result, compare)  # ilastik's bar


# --- test_export_data_semantics.py ----------------------------------------------------------------

@pytest.mark.parametrize("project, labels", [
    ("PixelClassification2d3c.ilp", {"Simple Segmentation", "Labels"}),
    ("Autocontext2d3c.ilp", {"Simple Segmentation Stage 1", "Labels Stage 1", "Simple Segmentation Stage 2",
                             "Labels Stage 2"}),
])
def test_export_data_semantics(test_projects, inputdata, project, labels):
    """Label images (interpolated by nearest neighbour in pyramids) are exactly ilastik's
    ImageTypes.Labels sources; the OME-Zarr writer tells them by their label colours."""
    workflow = load_workflow(test_projects / project)
    raw = workflow.input_volume(open_dataset(str(inputdata / "2d3c.h5")), None, workflow.input_roles[0].name)
    found = {source for source in workflow.export_sources
             if workflow.open_lane({workflow.input_roles[0].name: raw}, LaneRequest(source)).image.label_colors}
    assert found == labels


# --- test_DatasetInfo.py --------------------------------------------------------------------------

def test_dataset_info_nicknames_and_expansion(tmp_path):
    stack = tmp_path / "stacksubpath"
    stack.mkdir()
    rng = np.random.default_rng(3)
    for index in range(3):
        with h5py.File(stack / f"2d_apoptotic_binary_{index}.h5", "w") as file:
            file["volume/data"] = (rng.random((1, 100, 200, 1, 1)) * 255).astype(np.uint8)
        Image.fromarray((rng.random((52, 69, 3)) * 255).astype(np.uint8)).save(stack / f"c_cells_{index}.png")
    h5_files = sorted(str(path) for path in stack.glob("*.h5"))
    assert open_dataset(os.pathsep.join(h5_files)).nickname == "2d_apoptotic_binary_"
    assert open_dataset(h5_files[0]).nickname == "2d_apoptotic_binary_0"
    with_inner = os.pathsep.join(f"{path}/volume/data" for path in h5_files)
    assert open_dataset(with_inner).nickname == "2d_apoptotic_binary_-volume-data"
    assert open_dataset(str(stack / "*.h5")).paths == h5_files
    assert open_dataset(str(stack / "*.h5" / "vol*")).expanded_paths == [f"{path}/volume/data" for path in h5_files]
    relative = os.pathsep.join(os.path.basename(path) for path in h5_files)
    assert open_dataset(relative, base_dir=str(stack)).paths == h5_files
    assert open_dataset(str(stack / "*.png")).nickname == "c_cells_"


# --- test_experimental/test_api/test_pipelines.py -------------------------------------------------

@pytest.mark.parametrize("project, image, axes, message", [
    ("PixelClass.ilp", "Data_3channel.png", "yxc", "has 3 channel(s)"),
    ("PixelClass3Channel.ilp", "Data_1channel.png", "yxc", "has 1 channel(s)"),
    ("Autocontext_2D.ilp", "Data_3channel.png", "yxc", "has 3 channel(s)"),
    ("PixelClass.ilp", "Data_3D.npy", "zyxc", "is 3D"),
    ("PixelClass3D.ilp", "Data_1channel.png", "yxc", "is 2D"),
    ("Autocontext_2D.ilp", "Data_3D.npy", "zyxc", "is 3D"),
    ("Autocontext_3D.ilp", "Data_1channel.png", "yxc", "is 2D"),
], ids=lambda value: value if isinstance(value, str) and value.endswith(".ilp") else None)
def test_wrong_channels_and_dimensions_are_refused(api_projects, tmp_path, capsys, project, image, axes, message):
    """test_project_wrong_num_channels and test_project_wrong_dimensionality, headless."""
    assert run_cli(f"--project={api_projects / project}", api_projects / image, f"--input_axes={axes}",
                   f"--output_filename_format={tmp_path / 'out'}") == 2
    error = capsys.readouterr().err
    assert message in error and "Fix:" in error and "Traceback" not in error
    assert not list(tmp_path.iterdir())

