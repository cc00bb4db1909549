"""Boundary-based Segmentation with Multicut end to end: the 2018 fixture projects and ilastik's
2022 GUI-test references through the command line, the Python API, the server and its client;
options, progress, cancel, memory and the stored superpixels of training images."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from sklearn.ensemble import RandomForestClassifier

from conftest import fixtures_dir, serving
from multicut_helpers import (
    LEGACY_PROJECTS,
    OPTIMUM_3D,
    REFERENCE_WATERSHED,
    WATERSHED_2D,
    legacy_project,
    mean_segmentation_accuracy,
    read_h5,
    reference_inputs,
    voronoi_2d,
    write_multicut_project,
)
from pixelserve import open_project
from pixelserve.blocks import Cancelled
from pixelserve.classifiers import ForestEnsemble, forest_from_sklearn
from pixelserve.client import Client
from pixelserve.errors import UserError
from pixelserve.io import open_dataset
from pixelserve.multicut import (
    WatershedSettings,
    boundary_map,
    classifier_probabilities,
    edge_features,
    edge_weights,
    multicut_energy,
    region_adjacency_graph,
    solve,
    superpixels,
    voxel_channels,
)
from pixelserve.project.ilp import open_h5
from pixelserve.project.multicut import read_stored_rag_edges
from pixelserve.workflows import LaneRequest, Volume

BIN = Path(sys.executable).parent


def run_cli(args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "pixelserve", "--headless", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def read_table(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as file:
        return file["table"][()]


def energy_of(table) -> float:
    return float(np.sum(table["weight"][table["cut"] == 1]))


# --- the 2018 fixture projects through the command line -------------------------------------

@pytest.fixture(scope="module")
def legacy_folder(test_projects, tmp_path_factory) -> Path:
    """The three projects with their inputs where the projects say they are (inputdata/)."""
    folder = tmp_path_factory.mktemp("legacy")
    for name in LEGACY_PROJECTS:
        shutil.copy(test_projects / f"Boundary-basedSegmentationwMulticut{name}.ilp", folder)
    (folder / "inputdata").symlink_to(fixtures_dir() / "inputdata")
    return folder


@pytest.fixture(scope="module")
def legacy_runs(legacy_folder) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (segmentation, edge table) written by the command line."""
    runs = {}
    for name in LEGACY_PROJECTS:
        answer = run_cli([f"--project=Boundary-basedSegmentationwMulticut{name}.ilp",
                          f"--raw_data=inputdata/{name}.h5/data",
                          f"--probabilities=inputdata/{name}_Probabilities.h5/exported_data",
                          "--output_filename_format=out/{nickname}_{result_type}",
                          "--edge_table_filename=out/{nickname}_edges.h5"], legacy_folder)
        assert answer.returncode == 0, answer.stderr
        with h5py.File(legacy_folder / f"out/{name}-data_Multicut_Segmentation.h5", "r") as file:
            dataset = file["exported_data"]
            assert dataset.attrs["display_mode"] == "random-colortable"
            segmentation = dataset[()]
        runs[name] = segmentation, read_table(legacy_folder / f"out/{name}-data_edges.h5")
    return runs


@pytest.mark.parametrize("name", LEGACY_PROJECTS)
def test_cli_graph_and_probabilities_are_ilastiks(legacy_runs, legacy_folder, name):
    segmentation, table = legacy_runs[name]
    model, stored_superpixels, stored = legacy_project(legacy_folder, name)
    assert segmentation.shape == (50, 60, 55, 1) and segmentation.dtype == np.uint32
    with open_h5(legacy_folder / f"Boundary-basedSegmentationwMulticut{name}.ilp") as file:
        np.testing.assert_array_equal(np.stack([table["sp1"], table["sp2"]], axis=1), read_stored_rag_edges(file, 0))
    theirs = classifier_probabilities(stored.values, ForestEnsemble(list(model.classifier.forests)),
                                      model.classifier.known_labels)
    if name == "3d2c":
        # Its classifier reads the edge-region axes, whose signs are LAPACK's (docs/multicut.md).
        assert np.mean(table["probability"] == theirs) > 0.85
    else:
        np.testing.assert_array_equal(table["probability"], theirs)
    # The segmentation is the multicut of the stored superpixels: one label per superpixel,
    # different labels exactly across the cut edges.
    labels = segmentation[..., 0]
    first = np.zeros(int(stored_superpixels.max()) + 1, dtype=np.uint32)
    first[stored_superpixels.ravel()] = labels.ravel()
    np.testing.assert_array_equal(first[stored_superpixels], labels)
    np.testing.assert_array_equal(first[table["sp1"]] != first[table["sp2"]], table["cut"] == 1)


@pytest.mark.parametrize("name", LEGACY_PROJECTS)
def test_cli_energy_is_within_one_percent_of_the_optimum(legacy_runs, legacy_folder, name):
    _, table = legacy_runs[name]
    edges = np.stack([table["sp1"], table["sp2"]], axis=1)
    if name == "3d":
        # The ILP takes a minute on this graph: its optimum on the stored problem, which the
        # probabilities above equal, is checked by a slow test of the engine.
        optimum = OPTIMUM_3D
    else:
        optimum = multicut_energy(edges, table["weight"], solve(edges, table["weight"], int(edges.max()) + 1, "ilp"))
    found = energy_of(table)
    assert optimum - 1e-6 <= found <= optimum + 0.01 * abs(optimum)


def test_a_second_run_gives_the_same_segmentation(legacy_runs, legacy_folder):
    # The project's solver (ilastik's legacy fusion moves) draws random proposals: seeded.
    segmentation, _ = legacy_runs["3d"]
    project = open_project(legacy_folder / "Boundary-basedSegmentationwMulticut3d.ilp")
    raw = read_h5(fixtures_dir() / "inputdata/3d.h5", "data")
    probabilities = read_h5(fixtures_dir() / "inputdata/3d_Probabilities.h5")
    again = project.predict(raw, "zyx", inputs={"Probabilities": (probabilities, "zyxc")})
    np.testing.assert_array_equal(again, segmentation)


def test_the_stored_superpixels_of_the_training_image_are_used(legacy_folder, tmp_path):
    # A copy of the project whose stored superpixels are renumbered: the training image's
    # files get them, the same pixels from another file get the watershed's own.
    project = tmp_path / "renumbered.ilp"
    shutil.copy(legacy_folder / "Boundary-basedSegmentationwMulticut3d1c.ilp", project)
    (tmp_path / "inputdata").symlink_to(fixtures_dir() / "inputdata")
    with h5py.File(project, "a") as file:
        block = file["DT Watershed/Superpixels/superpixels000/block0000"]
        original = block[()]
        block[...] = np.where(original > 0, original.max() + 1 - original, 0)
    copied = tmp_path / "elsewhere"
    copied.mkdir()
    for name in ("3d1c.h5", "3d1c_Probabilities.h5"):
        shutil.copy(fixtures_dir() / "inputdata" / name, copied)
    workflow = open_project(project).workflow

    def superpixels_of(folder: Path) -> np.ndarray:
        volumes = {role: workflow.input_volume(open_dataset(str(folder / spec)), None, role)
                   for role, spec in (("Raw Data", "3d1c.h5/data"),
                                      ("Probabilities", "3d1c_Probabilities.h5/exported_data"))}
        lane = workflow.open_lane(volumes, LaneRequest("Superpixels"))
        lane.prepare()
        return lane.image.compute((0, 0, 0, 0), lane.image.shape)[..., 0]

    np.testing.assert_array_equal(superpixels_of(tmp_path / "inputdata"), original.max() + 1 - original[..., 0])
    np.testing.assert_array_equal(superpixels_of(copied), original[..., 0])


# --- ilastik's 2022 references (current watershed) -----------------------------------------

@pytest.fixture(scope="module")
def reference_folder(multicut_reference, tmp_path_factory) -> Path:
    """No-classifier and classifier projects of the reference settings, and their inputs."""
    folder = tmp_path_factory.mktemp("reference")
    raw, probabilities = reference_inputs()
    inputs = fixtures_dir() / "inputdata"
    lanes = [{"Raw Data": (inputs / "3d1c-synthetic.h5/data", "zyxc", raw.shape),
              "Probabilities": (inputs / "3d1c-synthetic_Probabilities.h5/exported_data", "zyxc", probabilities.shape)}]
    write_multicut_project(folder / "no_rf.ilp", lanes=lanes, watershed=REFERENCE_WATERSHED)
    # ilastik's GUI test trains its forest from the reference segmentation: so does this one.
    settings = WatershedSettings(**REFERENCE_WATERSHED)
    labels = superpixels(boundary_map(probabilities, settings.channels), settings)
    reference = read_h5(multicut_reference / "multicut_segmentation_rf_t0.5_kerningham-lin.h5")[..., 0]
    rag = region_adjacency_graph(labels)
    selections = {"Raw Data": ["standard_sp_mean"], "Probabilities-1": ["standard_edge_mean"]}
    table = edge_features(rag, voxel_channels(raw, probabilities), selections)
    majority = np.zeros(rag.n_nodes, dtype=np.int64)
    for node in np.unique(labels):
        majority[node] = np.bincount(reference[labels == node]).argmax()
    edge_labels = np.where(majority[rag.edges[:, 0]] != majority[rag.edges[:, 1]], 2, 1)
    forest = RandomForestClassifier(n_estimators=100, random_state=0).fit(table.values, edge_labels)
    write_multicut_project(folder / "rf.ilp", lanes=lanes, watershed=REFERENCE_WATERSHED,
                           forest=forest_from_sklearn(forest, labels=[1, 2]), feature_names=selections,
                           classifier_columns=table.names)
    for name in ("superpixels.h5", "multicut_segmentation_no_rf_t0.5_kerningham-lin.h5",
                 "multicut_segmentation_rf_t0.5_kerningham-lin.h5"):
        shutil.copy(multicut_reference / name, folder)
    return folder


def reference_args(project: str) -> list[str]:
    inputs = fixtures_dir() / "inputdata"
    return [f"--project={project}", f"--raw_data={inputs / '3d1c-synthetic.h5'}",
            f"--probabilities={inputs / '3d1c-synthetic_Probabilities.h5'}",
            "--output_filename_format=out/{nickname}_{result_type}_" + project.removesuffix(".ilp")]


@pytest.mark.parametrize("project, reference", [
    ("no_rf.ilp", "multicut_segmentation_no_rf_t0.5_kerningham-lin.h5"),
    ("rf.ilp", "multicut_segmentation_rf_t0.5_kerningham-lin.h5")])
def test_cli_reaches_ilastiks_bar_on_the_reference(reference_folder, project, reference):
    answer = run_cli(reference_args(project), reference_folder)
    assert answer.returncode == 0, answer.stderr
    name = project.removesuffix(".ilp")
    result = read_h5(reference_folder / f"out/3d1c-synthetic_Multicut_Segmentation_{name}.h5")
    assert result.shape == (64, 56, 32, 1) and result.dtype == np.uint32
    assert mean_segmentation_accuracy(result, read_h5(reference_folder / reference)) > 0.98


def test_cli_on_the_reference_superpixels_gives_the_reference_partition(reference_folder):
    answer = run_cli([*reference_args("no_rf.ilp"), "--superpixels=superpixels.h5",
                      "--output_filename_format=out/given_{result_type}"], reference_folder)
    assert answer.returncode == 0, answer.stderr
    result = read_h5(reference_folder / "out/given_Multicut_Segmentation.h5")
    # Not only the same partition: ilastik's label values.
    np.testing.assert_array_equal(result, read_h5(reference_folder / "multicut_segmentation_no_rf_t0.5_kerningham-lin.h5"))


def test_superpixels_export_and_8_bit_probabilities(reference_folder):
    raw, probabilities = reference_inputs()
    project = open_project(reference_folder / "no_rf.ilp")
    found = project.predict(raw, "zyxc", inputs={"Probabilities": (probabilities, "zyxc")}, export_source="superpixels")
    assert mean_segmentation_accuracy(found, read_h5(reference_folder / "superpixels.h5")) > 0.97
    # ilastik reads 8-bit probabilities as 0..255 and scales them to 0..1.
    eight_bit = np.round(probabilities * 255).astype(np.uint8)
    as_uint8 = project.predict(raw, "zyxc", inputs={"Probabilities": (eight_bit, "zyxc")})
    as_float = project.predict(raw, "zyxc", inputs={"Probabilities": (eight_bit / np.float32(255), "zyxc")})
    np.testing.assert_array_equal(as_uint8, as_float)


def test_options_override_the_projects_multicut(reference_folder):
    raw, probabilities = reference_inputs()
    project = open_project(reference_folder / "rf.ilp")
    inputs = {"Probabilities": (probabilities, "zyxc")}
    default = project.run(raw, "zyxc", inputs=inputs)
    table = default.tables["edges"]
    # Beta and the threshold change the weights exactly as ilastik's formula says.
    shifted = project.run(raw, "zyxc", inputs=inputs, options={"beta": 0.3, "probability_threshold": 0.4})
    edges = np.stack([table.columns["sp1"], table.columns["sp2"]], axis=1)
    np.testing.assert_array_equal(shifted.tables["edges"].columns["weight"],
                                  edge_weights(edges, table.columns["probability"], 0.3, 0.4))
    exact = project.run(raw, "zyxc", inputs=inputs, options={"solver": "ilp"}).tables["edges"].columns
    assert energy_of(exact) <= energy_of(table.columns) + 1e-9
    for options, message in (({"beta": 1.5}, "--beta=1.5 is not strictly between 0 and 1"),
                             ({"solver": "annealing"}, "--solver='annealing' is not one of")):
        with pytest.raises(UserError, match=message):
            project.run(raw, "zyxc", inputs=inputs, options=options)


def test_progress_names_each_stage_and_cancel_stops_between_them(reference_folder):
    raw, probabilities = reference_inputs()
    workflow = open_project(reference_folder / "rf.ilp").workflow
    volumes = {"Raw Data": Volume.from_array(raw, "zyxc"), "Probabilities": Volume.from_array(probabilities, "zyxc")}
    phases = []
    workflow.open_lane(volumes).prepare(lambda done, total, phase: phases.append((done, total, phase)))
    assert list(dict.fromkeys(phase for _, _, phase in phases)) == [
        "superpixels", "region adjacency graph", "edge features", "edge probabilities", "multicut"]
    assert [done for done, _, _ in phases] == sorted(done for done, _, _ in phases)
    assert phases[-1][0] == phases[-1][1]
    cancel, seen = threading.Event(), []

    def progress(done, total, phase):
        seen.append(phase)
        if phase == "region adjacency graph":
            cancel.set()

    with pytest.raises(Cancelled):
        workflow.open_lane(volumes).prepare(progress, cancel=cancel)
    assert "edge features" not in seen


def test_a_volume_beyond_the_memory_budget_is_refused_with_the_estimate(reference_folder, monkeypatch):
    raw, probabilities = reference_inputs()
    monkeypatch.setenv("LAZYFLOW_TOTAL_RAM_MB", "1")
    with pytest.raises(UserError, match=r"needs about \d+ MB \(the graph .* 64x56x32 volume at once\), more than the 1 MB available"):
        open_project(reference_folder / "no_rf.ilp").predict(raw, "zyxc", inputs={"Probabilities": (probabilities, "zyxc")})


# --- 2D images, a TIFF with the label colour table ------------------------------------------

def test_a_2d_image_through_the_cli_as_a_tiff_with_label_colours(tmp_path):
    raw, probabilities = voronoi_2d()
    tifffile.imwrite(tmp_path / "cells.tif", raw)
    tifffile.imwrite(tmp_path / "cells_boundaries.tif", probabilities)
    lanes = [{"Raw Data": ("cells.tif", "yxc", raw.shape + (1,)), "Probabilities": ("cells_boundaries.tif", "yxc", probabilities.shape)}]
    write_multicut_project(tmp_path / "cells.ilp", lanes=lanes, watershed=WATERSHED_2D)
    answer = run_cli(["--project=cells.ilp", "--raw_data=cells.tif", "--probabilities=cells_boundaries.tif",
                      "--output_format=tif", "--export_dtype=uint16", "--output_filename_format={nickname}_{result_type}"],
                     tmp_path)
    assert answer.returncode == 0, answer.stderr
    with tifffile.TiffFile(tmp_path / "cells_Multicut_Segmentation.tif") as tif:
        segmentation = tif.asarray()
        [lut] = np.asarray(tif.imagej_metadata["LUTs"]).reshape(-1, 3, 256)  # tifffile unwraps a single LUT
    local = open_project(tmp_path / "cells.ilp").predict(raw, "yx", inputs={"Probabilities": (probabilities, "yxc")})
    np.testing.assert_array_equal(segmentation, local[..., 0])
    assert 15 <= np.unique(segmentation).size <= 45   # about the 30 cells
    assert lut.shape == (3, 256) and tuple(lut[:, 0]) == (0, 0, 0) and len({tuple(c) for c in lut.T[1:]}) == 255


# --- the server and its Python client --------------------------------------------------------

@pytest.fixture(scope="module")
def served(reference_folder):
    with serving(reference_folder) as address:
        yield address


def test_the_server_runs_a_multicut_project_as_the_api_does(reference_folder, served):
    raw, probabilities = reference_inputs()
    project = str(reference_folder / "rf.ilp")
    options = {"solver": "greedy-additive", "beta": "0.45"}
    with Client(served) as client:
        info = client.project_info(project)
        assert info.title == "Multicut" and list(info.tables) == ["edges"]
        assert [option.name for option in info.options] == ["solver", "seed", "beta", "probability_threshold",
                                                            "edge_table_filename"]
        remote = client.predict(project, raw, "zyxc", inputs={"Probabilities": (probabilities, "zyxc")},
                                options=options, tables=True)
    local = open_project(project).run(raw, "zyxc", inputs={"Probabilities": (probabilities, "zyxc")}, options=options)
    np.testing.assert_array_equal(remote.array, local.array)
    assert remote.lane_wide and len(remote.label_colors) == 255
    for name, column in local.tables["edges"].columns.items():
        np.testing.assert_array_equal(remote.tables["edges"].columns[name], column)


def test_time_points_are_segmented_one_by_one(tmp_path):
    raw, probabilities = voronoi_2d(seed=1)
    lanes = [{"Raw Data": ("cells.tif", "yxc", raw.shape + (1,)), "Probabilities": ("p.tif", "yxc", probabilities.shape)}]
    project = open_project(write_multicut_project(tmp_path / "cells.ilp", lanes=lanes, watershed=WATERSHED_2D))
    frames = project.run(np.stack([raw, raw[::-1]]), "tyx", inputs={"Probabilities": (np.stack([probabilities, probabilities[::-1]]), "tyxc")})
    assert frames.array.shape == (2,) + raw.shape + (1,)
    for t, flip in enumerate((slice(None), slice(None, None, -1))):
        alone = project.run(raw[flip], "yx", inputs={"Probabilities": (probabilities[flip], "yxc")})
        np.testing.assert_array_equal(frames.array[t], alone.array)
        rows = frames.tables["edges"].columns["timestep"] == t
        np.testing.assert_array_equal(frames.tables["edges"].columns["weight"][rows], alone.tables["edges"].columns["weight"])
