"""The Fiji plugin (java-plugin/), for real: the jar built with Maven (its JUnit tests run in
that build), installed into a plugins folder as Fiji installs it, driving a real pixelserve
server from ImageJ macros in a headless ImageJ, from Python through JPype, and from ImageJ's
GUI under Xvfb (dialogs, the macro recorder, the Cancel button). Results are compared with
the command line's.

Skipped with the reason when Maven or Java is missing (and the GUI test without Xvfb).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage

import cc_workflow
from conftest import fixtures_dir
from multicut_helpers import WATERSHED_2D, voronoi_2d, write_multicut_project
from objects_fixtures import write_shapes
from pixelserve.synthetic import blobs_image, cells_image, dot_labels, scribbles

ROOT = Path(__file__).resolve().parents[1]
JAVA_PROJECT = ROOT / "java-plugin"
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
TOKEN = "fiji-test-token-0123456789abcdef"
MACRO_SECONDS = 120  # a headless macro that runs longer has hung


# --- the jar ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def plugin(request) -> dict:
    """Builds the plugin with `mvn -B verify` (JUnit tests included); the jars it made."""
    missing = [tool for tool in ("mvn", "java") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not found: install Maven and a JDK (8 or newer) to build and test the Fiji plugin")
    started = time.perf_counter()
    build = subprocess.run(["mvn", "-B", "verify"], cwd=JAVA_PROJECT, capture_output=True, text=True, timeout=1200,
                           check=False)
    seconds = time.perf_counter() - started
    summary = [line for line in build.stdout.splitlines()
               if "Tests run:" in line and " in " not in line or "BUILD" in line or "ERROR" in line]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\njava-plugin: mvn -B verify took {seconds:.0f} s")  # Surefire's counts, for CI's log
        for line in summary[:20]:
            print(f"  {line}")
    if build.returncode != 0:
        pytest.fail("mvn -B verify failed:\n" + "\n".join(build.stdout.splitlines()[-60:]) + build.stderr[-2000:])
    target = JAVA_PROJECT / "target"
    [jar] = [p for p in target.glob("pixelserve_fiji-*.jar") if not p.name.endswith("-tests.jar")]
    [tests_jar] = target.glob("pixelserve_fiji-*-tests.jar")
    assert "_" in jar.name, "ImageJ only scans jars whose name holds an underscore"
    return {"jar": jar, "tests_jar": tests_jar, "ij": target / "imagej" / "ij.jar", "build_seconds": seconds}


@pytest.fixture(scope="module")
def imagej_home(tmp_path_factory, plugin) -> Path:
    """An ImageJ folder with the plugin installed as Fiji installs it: ij/plugins/<jar>."""
    home = tmp_path_factory.mktemp("imagej")
    (home / "plugins").mkdir()
    shutil.copy(plugin["jar"], home / "plugins" / plugin["jar"].name)
    (home / "user").mkdir()
    return home


# --- data and server ------------------------------------------------------------------------

def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "pixelserve"), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The folder docs/fiji.md calls /data/: a trained project, images, an HDF5 file."""
    folder = tmp_path_factory.mktemp("data")
    (folder / "images").mkdir()
    image, truth = cells_image((256, 256), seed=3)
    tifffile.imwrite(folder / "train.tif", image)
    tifffile.imwrite(folder / "train_labels.tif", scribbles(truth, seed=3))
    for index in (1, 2):
        tifffile.imwrite(folder / "images" / f"cells_{index}.tif", cells_image((256, 256), seed=10 + index)[0])
    Image.fromarray(np.dstack([image] * 3)).save(folder / "images" / "rgb.png")
    frames = np.stack([cells_image((128, 128), seed=30 + t, n_cells=8)[0] for t in range(3)])
    tifffile.imwrite(folder / "images" / "timelapse.tif", frames, imagej=True, metadata={"axes": "TYX", "finterval": 5},
                     resolution=(2.0, 2.0))
    with h5py.File(folder / "volume.h5", "w") as file:
        file["raw/cells"] = image
        file["raw/other"] = image[:64, :64]
    cli("train", "--raw_data", "train.tif", "--labels", "train_labels.tif", "--label_names", "background,cell",
        "--trees", "10", "--seed", "0", "--output", "MyProject.ilp", cwd=folder)
    # Multicut: membranes, their boundary probabilities (channels background, boundary) and a
    # project without an edge classifier.
    membranes, boundaries = voronoi_2d((160, 200), cells=60, seed=4)
    tifffile.imwrite(folder / "images" / "membranes.tif", membranes)
    tifffile.imwrite(folder / "images" / "membranes_boundaries.tif", boundaries.transpose(2, 0, 1), imagej=True,
                     metadata={"axes": "CYX"})
    write_multicut_project(folder / "Multicut.ilp", watershed=WATERSHED_2D, lanes=[{
        "Raw Data": ("images/membranes.tif", "yxc", membranes.shape + (1,)),
        "Probabilities": ("images/membranes_boundaries.tif", "yxc", boundaries.shape)}])
    # Tracking: a Tracking with Learning project of ilastik's fixtures, its 5-frame movie and
    # segmentation as ImageJ hyperstacks
    fixtures = fixtures_dir()
    if (fixtures / "test_projects.zip").exists():
        with zipfile.ZipFile(fixtures / "test_projects.zip") as archive:
            (folder / "CellTracking.ilp").write_bytes(archive.read("TrackingwLearning5t2d1c_wBin.ilp"))
        inputs = fixtures / "inputdata"
        with h5py.File(inputs / "5t2d1c.h5", "r") as raw, \
                h5py.File(inputs / "5t2d1c_Binary_Segmentation.h5", "r") as segmentation:
            tifffile.imwrite(folder / "images" / "movie.tif", raw["data"][..., 0], imagej=True, metadata={"axes": "TYX"})
            tifffile.imwrite(folder / "images" / "movie_segmentation.tif", segmentation["exported_data"][..., 0],
                             imagej=True, metadata={"axes": "TYX"})
    return folder


@contextlib.contextmanager
def serving(folder: Path, roots: list[Path], *, token: str | None = None, env: dict | None = None):
    """`pixelserve serve` on a free loopback port with these allowed roots (and token); gives
    (port, log path), and stops the server after."""
    log = folder / "server.log"
    command = [str(BIN / "pixelserve"), "serve", "--port", "0", "--port-file", str(folder / "port")]
    if token:
        (folder / "token").write_text(token)
        command += ["--token-file", str(folder / "token")]
    for root in roots:
        command += ["--allowed-root", str(root)]
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "port").exists() or not (folder / "port").read_text().strip():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield int((folder / "port").read_text()), log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


@pytest.fixture(scope="module")
def server(data, tmp_path_factory):
    """`pixelserve serve` on a free loopback port, with a token; yields (port, log path)."""
    folder = tmp_path_factory.mktemp("server")
    roots = [data, fixtures_dir().parent if fixtures_dir().exists() else data, folder]
    with serving(folder, roots, token=TOKEN) as served:
        yield served


@pytest.fixture(scope="module")
def cc_server(data, tmp_path_factory):
    """A server that also runs the test suite's own workflow (cc_workflow.py: connected
    components, an image and an object table, its own option `threshold`), which it finds
    through an entry point as it would a plugin package's; data/Components.ilp is a project
    of it. Yields (port, the environment in which pixelserve knows the workflow)."""
    cc_workflow.write_project(data / "Components.ilp")
    env = cc_workflow.plugin_environment(tmp_path_factory.mktemp("site"))
    with serving(tmp_path_factory.mktemp("cc_server"), [data], env=env) as (port, _):
        yield port, env


def settings(port: int) -> str:
    return f'run("Server Settings", "host=127.0.0.1 port={port} token={TOKEN} command=[]");\n'


def run_macro(plugin, home: Path, macro: str, *, timeout: float = MACRO_SECONDS) -> subprocess.CompletedProcess:
    """A macro in a headless ImageJ (no display at all), in batch mode; never waits for a person."""
    path = home / f"macro-{time.monotonic_ns()}.ijm"
    path.write_text(macro)
    command = ["java", "-Djava.awt.headless=true", f"-Dplugins.dir={home}", f"-Duser.home={home / 'user'}",
               "-cp", f"{plugin['ij']}{os.pathsep}{plugin['tests_jar']}",
               "org.pixelserve.fiji.testing.HeadlessImageJ", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=home, check=False)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def cli_result(project: Path, image: Path, out: Path, *flags: str) -> np.ndarray:
    cli("--headless", f"--project={project}", "--output_format=tif", f"--output_filename_format={out}", *flags,
        str(image), cwd=out.parent)
    return tifffile.imread(out)


class Page:
    """What a test checks of a TIFF's first page, read while the file is open."""

    def __init__(self, page):
        self.photometric = page.photometric
        self.colormap = page.colormap
        numerator, denominator = page.tags["XResolution"].value
        self.pixels_per_unit = numerator / denominator


def imagej_tiff(path: Path):
    with tifffile.TiffFile(path) as tif:
        return tif.asarray(), tif.imagej_metadata or {}, Page(tif.pages[0])


# --- workflows ------------------------------------------------------------------------------

def test_pixel_classification_matches_the_command_line(plugin, imagej_home, data, server, tmp_path):
    port, _ = server
    out = run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/cells_1.tif");
setVoxelSize(0.5, 0.5, 1, "um");
run("Pixel Classification", "project=[{data}/MyProject.ilp] raw_data=cells_1.tif export_source=Probabilities");
print("title=" + getTitle() + " channels=" + nSlices + " bits=" + bitDepth());
saveAs("Tiff", "{tmp_path}/probabilities.tif");
selectImage("cells_1.tif");
run("Pixel Classification", "project=[{data}/MyProject.ilp] export_source=[simple segmentation]");
print("title=" + getTitle() + " bits=" + bitDepth() + " min=" + getValue("Min") + " max=" + getValue("Max"));
getMinAndMax(low, high); print("display=" + low + "-" + high);
saveAs("Tiff", "{tmp_path}/segmentation.tif");
""")
    printed = ok(out)
    assert "title=cells_1-Probabilities channels=2 bits=32" in printed
    assert "title=cells_1-Simple Segmentation bits=8" in printed and "display=0-255" in printed
    probabilities, metadata, page = imagej_tiff(tmp_path / "probabilities.tif")
    expected = cli_result(data / "MyProject.ilp", data / "images" / "cells_1.tif", tmp_path / "cli_probabilities.tif")
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert metadata["Labels"] == ["background", "cell"]  # channels named after the classes
    assert (metadata["min"], metadata["max"]) == (0.0, 1.0) and metadata["mode"] == "composite"
    assert page.pixels_per_unit == 2  # 0.5 um pixels kept
    segmentation, _, page = imagej_tiff(tmp_path / "segmentation.tif")
    expected = cli_result(data / "MyProject.ilp", data / "images" / "cells_1.tif", tmp_path / "cli_segmentation.tif",
                          "--export_source=Simple Segmentation")
    np.testing.assert_array_equal(segmentation, expected)
    assert page.photometric == tifffile.PHOTOMETRIC.PALETTE  # the label LUT
    colormap = page.colormap >> 8
    from pixelserve import open_project

    colors = open_project(data / "MyProject.ilp").workflow.label_colors
    for value, color in enumerate(colors, start=1):
        assert tuple(colormap[:, value]) == tuple(int(c) for c in color)
    assert tuple(colormap[:, 0]) == (0, 0, 0)


@pytest.mark.parametrize("bits", ["16-bit", "32-bit"])
def test_16_and_32_bit_images(plugin, imagej_home, data, server, tmp_path, bits):
    port, _ = server
    ok(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/cells_2.tif");
run("{bits}");
run("Multiply...", "value=3");
saveAs("Tiff", "{tmp_path}/input.tif");
run("Pixel Classification", "project=[{data}/MyProject.ilp] raw_data=input.tif");
saveAs("Tiff", "{tmp_path}/result.tif");
"""))
    result = tifffile.imread(tmp_path / "result.tif")
    assert tifffile.imread(tmp_path / "input.tif").dtype == (np.uint16 if bits == "16-bit" else np.float32)
    expected = cli_result(data / "MyProject.ilp", tmp_path / "input.tif", tmp_path / "cli.tif")
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_a_time_series_keeps_its_frames_and_calibration(plugin, imagej_home, data, server, tmp_path):
    port, _ = server
    printed = ok(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/timelapse.tif");
run("Pixel Classification", "project=[{data}/MyProject.ilp] raw_data=timelapse.tif");
getDimensions(w, h, c, z, t); print("dims=" + w + "," + h + "," + c + "," + z + "," + t);
print("interval=" + Stack.getFrameInterval());
saveAs("Tiff", "{tmp_path}/result.tif");
"""))
    assert "dims=128,128,2,1,3" in printed  # frames stay frames, no forced 5D, 2 class channels
    assert "interval=5" in printed
    result, metadata, page = imagej_tiff(tmp_path / "result.tif")
    assert result.shape == (3, 2, 128, 128) and metadata["frames"] == 3 and metadata["channels"] == 2
    assert page.pixels_per_unit == 2
    expected = cli_result(data / "MyProject.ilp", data / "images" / "timelapse.tif", tmp_path / "cli.tif")
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_a_prediction_mask_is_sent_as_its_own_role(plugin, imagej_home, data, server, tmp_path):
    port, _ = server
    ok(run_macro(plugin, imagej_home, settings(port) + f"""
newImage("mask", "8-bit black", 256, 256, 1);
setColor(1); fillRect(0, 0, 128, 256);
saveAs("Tiff", "{tmp_path}/mask.tif");
open("{data}/images/cells_1.tif");
run("Pixel Classification", "project=[{data}/MyProject.ilp] raw_data=cells_1.tif prediction_mask=mask.tif");
saveAs("Tiff", "{tmp_path}/masked.tif");
"""))
    result = tifffile.imread(tmp_path / "masked.tif")
    cli("--headless", f"--project={data / 'MyProject.ilp'}", "--output_format=tif",
        f"--output_filename_format={tmp_path / 'cli.tif'}", f"--raw_data={data / 'images' / 'cells_1.tif'}",
        f"--prediction_mask={tmp_path / 'mask.tif'}", cwd=tmp_path)
    expected = tifffile.imread(tmp_path / "cli.tif")
    np.testing.assert_allclose(result, expected, atol=1e-6)
    assert np.all(result[:, :, 128:] == 0) and result[:, :, :128].max() > 0.5


def test_multicut_of_two_open_images_matches_the_command_line(plugin, imagej_home, data, server, tmp_path):
    port, _ = server
    printed = ok(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/membranes.tif");
open("{data}/images/membranes_boundaries.tif");
run("Multicut", "project=[{data}/Multicut.ilp] raw_data=membranes.tif probabilities=membranes_boundaries.tif");
print("title=" + getTitle());
getMinAndMax(low, high); print("display=" + low + "-" + high);
print("edges=" + nResults + " headings=" + String.getResultsHeadings);
saveAs("Tiff", "{tmp_path}/result.tif");
"""))
    assert "title=membranes-Multicut Segmentation" in printed and "display=0-255" in printed  # the label LUT's range
    edges = int(re.search(r"edges=(\d+)", printed).group(1))  # the workflow's table came too
    assert edges > 60 and "headings=" in printed, printed
    cli("--headless", f"--project={data / 'Multicut.ilp'}", "--output_format=tif", f"--output_filename_format={tmp_path / 'cli.tif'}",
        f"--raw_data={data / 'images/membranes.tif'}", f"--probabilities={data / 'images/membranes_boundaries.tif'}",
        cwd=tmp_path)
    expected = tifffile.imread(tmp_path / "cli.tif").squeeze()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "result.tif"), expected)
    assert 40 <= np.unique(expected).size <= 80   # about the 60 cells


@pytest.fixture(scope="module")
def ilastik_projects(tmp_path_factory):
    folder = fixtures_dir()
    if not (folder / "api_projects.zip").exists():
        pytest.skip(f"ilastik fixtures not found at {folder} (set PIXELSERVE_FIXTURES)")
    import zipfile

    target = tmp_path_factory.mktemp("ilastik")
    with zipfile.ZipFile(folder / "api_projects.zip") as archive:
        archive.extractall(target)
    data3d = np.load(target / "Data_3D.npy")
    tifffile.imwrite(target / "Data_3D.tif", data3d.squeeze(), imagej=True, metadata={"axes": "ZYX"})
    return target


@pytest.fixture(scope="module")
def ilastik_server(ilastik_projects):
    """A server whose allowed root holds the unpacked ilastik projects."""
    with serving(ilastik_projects, [ilastik_projects]) as (port, _):
        yield port


@pytest.mark.parametrize("command, project, image, expected_title", [
    ("Autocontext", "Autocontext_2D.ilp", "Data_1channel.png", "Data_1channel-Probabilities Stage 2"),
    ("Pixel Classification", "PixelClass3Channel.ilp", "Data_3channel.png", "Data_3channel-Probabilities"),  # RGB
    ("Pixel Classification", "PixelClass3D.ilp", "Data_3D.tif", "Data_3D-Probabilities"),
])
def test_ilastik_projects_match_the_command_line(plugin, imagej_home, ilastik_projects, ilastik_server, tmp_path,
                                                 command, project, image, expected_title):
    printed = ok(run_macro(plugin, imagej_home, f"""
run("Server Settings", "port={ilastik_server}");
open("{ilastik_projects}/{image}");
print("input bits=" + bitDepth());
run("{command}", "project=[{ilastik_projects}/{project}] raw_data={image}");
print("title=" + getTitle());
saveAs("Tiff", "{tmp_path}/result.tif");
"""))
    assert f"title={expected_title}" in printed
    if image.endswith("3channel.png"):
        assert "input bits=24" in printed  # an RGB image, sent as 3 channels
    expected = cli_result(ilastik_projects / project, ilastik_projects / image, tmp_path / "cli.tif",
                          "--output_axis_order=zcyx" if "3D" in image else "--output_axis_order=cyx")
    np.testing.assert_allclose(tifffile.imread(tmp_path / "result.tif"), expected, atol=1e-6)


# A macro's lines that print the Results table whole: its headings, then each row's values
# (numbers in full precision, texts as texts), tab-separated; `printed_table` reads them back.
PRINT_RESULTS = r"""
headings = split(String.getResultsHeadings, "\t");
for (h = 0; h < headings.length; h++)
    print("heading\t" + headings[h]);
for (i = 0; i < nResults; i++) {
    line = "row";
    for (h = 0; h < headings.length; h++) {
        value = getResult(headings[h], i);
        if (isNaN(value)) line = line + "\t" + getResultString(headings[h], i);
        else line = line + "\t" + d2s(value, -12);
    }
    print(line);
}
"""


def printed_table(printed: str) -> list[dict[str, str]]:
    """The rows PRINT_RESULTS printed, as csv.DictReader gives a CSV file's."""
    headings = [line.split("\t", 1)[1] for line in printed.splitlines() if line.startswith("heading\t")]
    headings = [name for name in headings if name.strip()]   # the row numbers' column
    return [dict(zip(headings, line.split("\t")[-len(headings):])) for line in printed.splitlines()
            if line.startswith("row\t")]


def assert_same_table(got: list[dict[str, str]], expected: list[dict[str, str]], rtol: float, atol: float = 1e-12):
    """Same columns in the same order, same rows; numbers within the tolerance, texts equal."""
    assert len(got) == len(expected) and list(got[0]) == list(expected[0]), (list(got[0]), list(expected[0]))
    for row, want in zip(got, expected):
        for name, value in row.items():
            try:
                number = float(want[name])
            except ValueError:
                assert value == want[name], name
                continue
            assert float(value) == pytest.approx(number, rel=rtol, abs=atol, nan_ok=True), (name, value, want[name])


def test_tracking_a_time_lapse_matches_the_command_line(plugin, imagej_home, data, server, tmp_path):
    """Plugins > pixelserve > Tracking on a 5-frame hyperstack and its segmentation (a Tracking
    with Learning fixture) gives the command line's Tracking-Result, frame by frame, the CSV-Table
    export's rows as the Results table, and an overlay of a point per row at the object's centre
    in its frame, in its lineage's colour."""
    if not (data / "CellTracking.ilp").exists():
        pytest.skip(f"ilastik fixtures not found at {fixtures_dir()} (set PIXELSERVE_FIXTURES)")
    port, _ = server
    movie, segmentation = data / "images" / "movie.tif", data / "images" / "movie_segmentation.tif"
    printed = ok(run_macro(plugin, imagej_home, settings(port) + f"""
open("{segmentation}");
open("{movie}");
run("Tracking", "project=[{data}/CellTracking.ilp] raw_data=movie.tif binary_image=movie_segmentation.tif");
Stack.getDimensions(width, height, channels, slices, frames);
print("title=" + getTitle() + " frames=" + frames + " tracks=" + nResults + " points=" + Overlay.size);
for (i = 0; i < Overlay.size; i++) {{
    Overlay.activateSelection(i);
    getSelectionCoordinates(xs, ys);
    Roi.getPosition(channel, slice, frame);
    print("point\\t" + Roi.getName + "\\t" + xs[0] + "\\t" + ys[0] + "\\t" + frame + "\\t" + Roi.getStrokeColor);
}}
run("Remove Overlay");
saveAs("Tiff", "{tmp_path}/result.tif");
""" + PRINT_RESULTS))
    assert "title=movie-Tracking-Result frames=5 tracks=" in printed
    cli("--headless", f"--project={data / 'CellTracking.ilp'}", f"--raw_data={movie}", f"--binary_image={segmentation}",
        "--output_format=tif", "--output_axis_order=tyx", f"--output_filename_format={tmp_path / 'cli.tif'}",
        cwd=tmp_path)
    expected = tifffile.imread(tmp_path / "cli.tif").reshape(5, 33, 77)     # an ImageJ TZCYX hyperstack
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "result.tif"), expected)
    assert len(np.unique(expected)) > 3       # lineages, not just background and false detections
    cli("--headless", f"--project={data / 'CellTracking.ilp'}", f"--raw_data={movie}", f"--binary_image={segmentation}",
        "--export_source=Plugin", "--export_plugin=CSV-Table", f"--output_filename_format={tmp_path / 'tracks'}",
        cwd=tmp_path)
    with open(tmp_path / "tracks.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert f"tracks={len(rows)} points={len(rows)}" in printed and len(rows) > 10  # one row per object and frame
    assert_same_table(printed_table(printed), rows, rtol=1e-6, atol=1e-6)         # the CSV's "%f"
    points = [line.split("\t")[1:] for line in printed.splitlines() if line.startswith("point\t")]
    colours: dict[int, set[str]] = {}
    for (name, x, y, frame, colour), row in zip(points, rows):
        lineage, track, t = int(row["lineageId"]), int(row["trackId"]), int(row["frame"])
        assert name == (f"lineage {lineage} track {track} t={t}" if lineage >= 0 else f"false detection t={t}")
        assert (float(x), float(y), int(frame)) == (int(row["Center_of_the_object_0"]), int(row["Center_of_the_object_1"]), t + 1)
        if row["mergerLabelId"] == "0":   # (a split merger's centre may lie between its cells)
            assert expected[t, int(y), int(x)] == max(lineage, 1), row   # x, y as ImageJ's: on its object
        colours.setdefault(max(lineage, 1), set()).add(colour)
    assert all(len(shared) == 1 for shared in colours.values()) and len(colours) > 2   # one colour per lineage
    assert len({next(iter(shared)) for shared in colours.values()}) == len(colours)    # distinct between them


# --- any workflow: Run Project, tables, a project's own options -----------------------------

def cc_settings(port: int) -> str:
    return f'run("Server Settings", "host=127.0.0.1 port={port} token=[] command=[]");\n'


def test_run_project_gives_the_image_and_table_of_a_workflow_it_does_not_know(plugin, imagej_home, data, cc_server,
                                                                               tmp_path):
    port, env = cc_server
    printed = ok(run_macro(plugin, imagej_home, cc_settings(port) + f"""
open("{data}/images/cells_1.tif");
run("Run Project", "project=[{data}/Components.ilp] raw_data=cells_1.tif threshold=120.5");
print("title=" + getTitle() + " bits=" + bitDepth());
saveAs("Tiff", "{tmp_path}/labels.tif");
print("rows=" + nResults);
for (i = 0; i < nResults; i++)
    print("row " + getResult("timestep", i) + " " + getResult("object_id", i) + " " + getResult("size", i) + " " + d2s(getResult("centre_y", i), 9) + " " + d2s(getResult("centre_x", i), 9) + " " + getResultString("kind", i));
images = nImages;
run("Run Project", "project=[{data}/Components.ilp] raw_data=cells_1.tif threshold=150 table_only");
print("table only: new images=" + (nImages - images) + " rows=" + nResults);
"""))
    assert "title=cells_1-Object Identities bits=32" in printed
    answer = subprocess.run([BIN / "pixelserve", "--headless", f"--project={data / 'Components.ilp'}", "--threshold=120.5",
                             "--output_format=tif", f"--output_filename_format={tmp_path}/cli",
                             f"--table_filename={tmp_path}/cli.csv", data / "images" / "cells_1.tif"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert answer.returncode == 0, answer.stderr
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "labels.tif"),
                                  tifffile.imread(tmp_path / "cli.tif").reshape(256, 256).astype(np.float32))
    with open(tmp_path / "cli.csv", newline="") as file:
        expected = list(csv.DictReader(file))
    rows = [line.split()[1:] for line in printed.splitlines() if line.startswith("row ")]
    assert f"rows={len(expected)}" in printed and len(rows) == len(expected) == 25
    for got, row in zip(rows, expected):
        assert got[:3] == [row["timestep"], row["object_id"], row["size"]] and got[5] == row["kind"]
        np.testing.assert_allclose([float(got[3]), float(got[4])], [float(row["centre_y"]), float(row["centre_x"])],
                                   rtol=1e-6)
    assert "table only: new images=0 rows=25" in printed


@pytest.fixture(scope="module")
def counting(data, tmp_path_factory) -> Path:
    """data/Counting.ilp (trained on dots) and data/counting/: three images to count."""
    folder = tmp_path_factory.mktemp("counting_training")
    image, centres = blobs_image((96, 96), n_blobs=8, seed=2)
    tifffile.imwrite(folder / "train.tif", image)
    tifffile.imwrite(folder / "dots.tif", dot_labels(centres, image.shape, background=200, seed=2))
    (data / "counting").mkdir(exist_ok=True)
    for index in (1, 2, 3):
        tifffile.imwrite(data / "counting" / f"blobs_{index}.tif", blobs_image((96, 96), n_blobs=6 + index, seed=2 + index)[0])
    cli("train", "--workflow=counting", f"--raw_data={folder / 'train.tif'}", f"--labels={folder / 'dots.tif'}",
        "--features=gaussian:1.6,3.5 hessian:1.6", "--seed=0", f"--output={data / 'Counting.ilp'}", cwd=folder)
    return data / "counting"


def test_a_macro_loop_over_a_folder_fills_one_counts_table(plugin, imagej_home, data, counting, server, tmp_path):
    """Counting gives the density image and adds a row (image, count) to the counts table per
    image, as Measure adds to the Results table; Clear Results starts a new table."""
    port, _ = server
    printed = ok(run_macro(plugin, imagej_home, settings(port) + f"""
list = getFileList("{counting}/");
for (pass = 0; pass < 2; pass++) {{
    run("Clear Results");
    for (i = 0; i < list.length; i++) {{
        open("{counting}/" + list[i]);
        run("Counting", "project=[{data}/Counting.ilp]");
        print("title=" + getTitle());
        saveAs("Tiff", "{tmp_path}/" + list[i]);
        close("*");
    }}
}}
print("rows=" + nResults);
for (i = 0; i < nResults; i++)
    print("count " + getResultString("image", i) + " " + d2s(getResult("count", i), 9));
"""))
    assert "title=blobs_1-Probabilities" in printed
    assert "rows=3" in printed, printed   # three images; the first round's rows were cleared
    cli("--headless", f"--project={data / 'Counting.ilp'}", "--output_format=tif",
        f"--output_filename_format={tmp_path}/cli/{{nickname}}", f"--csv-export-file={tmp_path}/counts.csv",
        *sorted(str(p) for p in counting.iterdir()), cwd=tmp_path)
    with open(tmp_path / "counts.csv", newline="") as file:
        expected = {name: float(count) for name, count in csv.reader(file)}
    counts = [line.split()[1:] for line in printed.splitlines() if line.startswith("count ")]
    assert [name for name, _ in counts] == ["blobs_1.tif", "blobs_2.tif", "blobs_3.tif"]
    for name, count in counts:
        stem = name.removesuffix(".tif")
        assert float(count) == pytest.approx(expected[stem], rel=1e-5)
        density = tifffile.imread(tmp_path / "cli" / f"{stem}.tif").squeeze()
        np.testing.assert_allclose(tifffile.imread(tmp_path / name), density, rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def shapes(data) -> Path:
    """data/shapes/: round and elongated objects, their segmentation and prediction maps, and two
    Object Classification projects: shapes.ilp (from the segmentation) and shapes_maps.ilp (from
    the prediction maps, thresholded)."""
    folder = data / "shapes"
    folder.mkdir(exist_ok=True)
    write_shapes(folder, {"train": 1, "test": 2}, maps=True)
    with h5py.File(folder / "test_maps.h5", "r") as file:
        tifffile.imwrite(folder / "test_maps.tif", file["probabilities"][()].transpose(2, 0, 1), imagej=True,
                         metadata={"axes": "CYX"})
    truth = np.load(folder / "train_truth.npy")
    objects, _ = ndimage.label(truth > 0)
    labels = np.zeros_like(truth)
    for index, box in enumerate(ndimage.find_objects(objects)[:30], start=1):  # a middle pixel of each of 30 objects
        ys, xs = np.nonzero(objects[box] == index)
        middle = len(ys) // 2
        labels[box][ys[middle], xs[middle]] = truth[box][ys[middle], xs[middle]]
    tifffile.imwrite(folder / "train_labels.tif", labels)
    common = ["--workflow", "object", "--raw_data", "train.tif", "--labels", "train_labels.tif", "--label_names",
              "round,elongated", "--trees", "20", "--seed", "0"]
    cli("train", *common, "--segmentation_image", "train_seg.tif", "--output", "shapes.ilp", cwd=folder)
    cli("train", *common, "--prediction_maps", "train_maps.h5/probabilities", "--threshold", "0.5",
        "--threshold_channel", "1", "--output", "shapes_maps.ilp", cwd=folder)
    return folder


@pytest.mark.parametrize("project, role, image, cli_image", [
    ("shapes.ilp", "segmentation_image", "test_seg.tif", "test_seg.tif"),
    ("shapes_maps.ilp", "prediction_maps", "test_maps.tif", "test_maps.h5/probabilities")])
def test_object_classification_gives_the_classes_and_the_object_table(plugin, imagej_home, shapes, server, tmp_path,
                                                                      project, role, image, cli_image):
    """Projects from a segmentation and from prediction maps: the class image in the project's
    class colours, and the Results table holds the command line's table, value for value."""
    port, _ = server
    printed = ok(run_macro(plugin, imagej_home, settings(port) + f"""
open("{shapes}/test.tif");
open("{shapes}/{image}");
run("Object Classification", "project=[{shapes}/{project}] raw_data=test.tif {role}={image}");
getLut(reds, greens, blues);
print("title=" + getTitle() + " rows=" + nResults + " lut1=" + reds[1] + "," + greens[1] + "," + blues[1] + " lut2=" + reds[2] + "," + greens[2] + "," + blues[2]);
saveAs("Tiff", "{tmp_path}/classes.tif");
""" + PRINT_RESULTS))
    assert "title=test-Object Predictions" in printed
    cli("--headless", f"--project={shapes / project}", "--raw_data=test.tif", f"--{role}={cli_image}",
        "--output_format=tif", f"--output_filename_format={tmp_path}/cli", f"--table_filename={tmp_path}/cli.csv",
        cwd=shapes)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "classes.tif"), tifffile.imread(tmp_path / "cli.tif").reshape(320, 320))
    with h5py.File(shapes / project, "r") as file:
        colors = file["ObjectClassification/LabelColors"][()]
    assert f"lut1={','.join(str(v) for v in colors[0][:3])} lut2={','.join(str(v) for v in colors[1][:3])}" in printed
    with open(tmp_path / "cli_table.csv", newline="") as file:
        expected = list(csv.DictReader(file))
    assert f"rows={len(expected)}" in printed and len(expected) > 10
    assert_same_table(printed_table(printed), expected, rtol=2e-7)


def test_a_key_of_neither_the_command_nor_the_project_is_refused(plugin, imagej_home, data, cc_server):
    port, _ = cc_server
    message = failing(run_macro(plugin, imagej_home, cc_settings(port) + f"""
open("{data}/images/cells_1.tif");
run("Run Project", "project=[{data}/Components.ilp] treshold=120");
"""))
    assert ("Run Project has no option 'treshold': its options are project, raw_data, export_source, threshold, "
            "table_filename, table_only") in message
    number = failing(run_macro(plugin, imagej_home, cc_settings(port) + f"""
open("{data}/images/cells_1.tif");
run("Run Project", "project=[{data}/Components.ilp] threshold=high");
"""))
    assert "threshold=high is not a number" in number


# --- a folder, run on the server: Batch Process Folder ----------------------------------------

def test_batch_process_folder_writes_what_the_command_line_writes(plugin, imagej_home, data, server, tmp_path):
    port, _ = server
    folder = data / "batch"
    folder.mkdir()
    for index in range(9):
        tifffile.imwrite(folder / f"cells_{index:02d}.tif", cells_image((96, 80), seed=60 + index)[0])
    (folder / "cells_09.tif").write_bytes(b"this is not an image")
    out = data / "batch_out"
    message = failing(run_macro(plugin, imagej_home, settings(port) + f"""
run("Batch Process Folder", "project=[{data}/MyProject.ilp] folder=[{folder}] pattern=cells_*.tif export_source=[Simple Segmentation] output_format=tif output_filename_format=[{out}/{{nickname}}_{{result_type}}]");
"""))
    assert ("1 of 10 files failed, the others were written (the table 'batch-batch' lists every file): cells_09.tif: "
            f"Cannot read {folder}/cells_09.tif as TIFF") in message
    good = sorted(folder.glob("cells_0[0-8].tif"))
    cli("--headless", f"--project={data / 'MyProject.ilp'}", "--export_source=Simple Segmentation", "--output_format=tif",
        f"--output_filename_format={tmp_path}/{{nickname}}_{{result_type}}", *map(str, good), cwd=tmp_path)
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"cells_{index:02d}_Simple_Segmentation.tif" for index in range(9)]
    for name in written:
        np.testing.assert_array_equal(tifffile.imread(out / name), tifffile.imread(tmp_path / name))
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes()


# --- checks and failures: one clear message, a non-zero exit, never a hang --------------------

def failing(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stderr


def test_a_wrong_channel_count_fails_with_one_sentence(plugin, imagej_home, data, server):
    port, log = server
    before = log.read_text().count("Predict")
    started = time.perf_counter()
    message = failing(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/rgb.png");
run("Pixel Classification", "project=[{data}/MyProject.ilp] raw_data=rgb.png");
print("not reached");
""", timeout=60))
    assert time.perf_counter() - started < 30
    assert ("Macro error: 'rgb.png' has 3 channels (RGB) but MyProject.ilp was trained on images with 1 channel: "
            "make it grayscale (Image > Type > 8-bit)") in message
    assert log.read_text().count("Predict") == before  # refused before anything was sent


def test_dimensionality_is_checked_before_sending(plugin, imagej_home, data, server):
    port, _ = server
    message = failing(run_macro(plugin, imagej_home, settings(port) + f"""
newImage("stack", "8-bit random", 64, 64, 1, 5, 1);
run("Pixel Classification", "project=[{data}/MyProject.ilp]");
"""))
    assert "'stack' has 5 slices (z) but MyProject.ilp was trained on 2D images" in message


def test_the_servers_messages_reach_the_macro(plugin, imagej_home, data, server):
    port, _ = server
    missing = failing(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/cells_1.tif");
run("Pixel Classification", "project=[{data}/NoSuchProject.ilp]");
"""))
    assert "NoSuchProject.ilp" in missing and "does not exist" in missing
    outside = failing(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/cells_1.tif");
run("Pixel Classification", "project=/etc/passwd.ilp");
"""))
    assert "outside the server's allowed roots" in outside
    source = failing(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/cells_1.tif");
run("Pixel Classification", "project=[{data}/MyProject.ilp] export_source=Nonsense");
"""))
    assert "has no export source 'Nonsense': choose one of Probabilities, Simple Segmentation" in source
    wrong_key = failing(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/cells_1.tif");
run("Pixel Classification", "projet=[{data}/MyProject.ilp]");
"""))
    assert "Pixel Classification has no option 'projet': its options are project, raw_data, prediction_mask, export_source" in wrong_key


def test_token_and_absent_servers(plugin, imagej_home, data, server):
    port, _ = server
    no_token = failing(run_macro(plugin, imagej_home, f"""
run("Server Settings", "port={port} command=[]");
open("{data}/images/cells_1.tif");
run("Pixel Classification", "project=[{data}/MyProject.ilp]");
"""))
    assert "token" in no_token
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    started = time.perf_counter()
    absent = failing(run_macro(plugin, imagej_home, f"""
run("Server Settings", "port={free} command=[]");
open("{data}/images/cells_1.tif");
run("Pixel Classification", "project=[{data}/MyProject.ilp]");
"""))
    assert f"Cannot reach the pixelserve server at 127.0.0.1:{free}" in absent
    assert time.perf_counter() - started < 30


def test_a_project_of_another_workflow_points_to_its_command(plugin, imagej_home, data, server, cc_server, tmp_path):
    port, _ = server
    message = failing(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/images/cells_1.tif");
run("Autocontext", "project=[{data}/MyProject.ilp]");
"""))
    assert "MyProject.ilp is a 'Pixel Classification' project: run it with Plugins > pixelserve > Pixel Classification" in message
    unnamed = failing(run_macro(plugin, imagej_home, cc_settings(cc_server[0]) + f"""
open("{data}/images/cells_1.tif");
run("Pixel Classification", "project=[{data}/Components.ilp]");
"""))
    assert (f"Components.ilp is a '{cc_workflow.PROJECT_NAME}' project: run it with Plugins > pixelserve > Run Project"
            in unnamed)


# --- HDF5 through the server ----------------------------------------------------------------

def test_hdf5_export_list_and_import_round_trip(plugin, imagej_home, data, server, tmp_path):
    port, _ = server
    printed = ok(run_macro(plugin, imagej_home, settings(port) + f"""
newImage("stack", "16-bit ramp", 64, 48, 2, 3, 4);
setVoxelSize(0.25, 0.25, 2, "um");
Stack.setFrameInterval(5);
saveAs("Tiff", "{tmp_path}/original.tif");
run("Export HDF5 (pixelserve)", "image=original.tif file=[{data}/fiji_export.h5] dataset=raw/stack compressed");
run("Export HDF5 (pixelserve)", "image=original.tif file=[{data}/fiji_export.h5] dataset=planar axes=tzcyx");
run("List HDF5 Datasets", "file=[{data}/fiji_export.h5]");
for (i = 0; i < nResults; i++)
    print("dataset=" + getResultString("dataset", i) + " axes=" + getResultString("axes", i) + " shape=" + getResultString("shape", i) + " dtype=" + getResultString("dtype", i));
run("Import HDF5 (pixelserve)", "file=[{data}/fiji_export.h5] dataset=/raw/stack");
print("title=" + getTitle());
getVoxelSize(pw, ph, pd, unit); print("voxel=" + pw + "," + pd + " interval=" + Stack.getFrameInterval());
saveAs("Tiff", "{tmp_path}/imported.tif");
run("Import HDF5 (pixelserve)", "file=[{data}/volume.h5] dataset=raw/other");
print("title=" + getTitle() + " size=" + getWidth() + "x" + getHeight());
"""))
    assert "dataset=planar axes=tzcyx shape=4,3,2,48,64 dtype=uint16" in printed
    assert "dataset=raw/stack axes=tzyxc shape=4,3,48,64,2 dtype=uint16" in printed
    assert "title=fiji_export-raw-stack" in printed and "voxel=0.25,2 interval=5" in printed
    assert "title=volume-raw-other size=64x64" in printed
    original = tifffile.imread(tmp_path / "original.tif")  # TZCYX
    with h5py.File(data / "fiji_export.h5") as file:
        stored = file["raw/stack"]
        assert stored.compression == "gzip"
        np.testing.assert_array_equal(stored[()], original.transpose(0, 1, 3, 4, 2))
        np.testing.assert_array_equal(file["planar"][()], original)
        axistags = json.loads(stored.attrs["axistags"])
        assert [(a["key"], a["resolution"]) for a in axistags["axes"]][:4] == [("t", 5), ("z", 2), ("y", 0.25), ("x", 0.25)]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "imported.tif"), original)


def test_import_reads_ilastik_style_files(plugin, imagej_home, data, server, tmp_path):
    """An HDF5 result of ilastik (tzyxc float32 probabilities with axistags) opens as a
    hyperstack with its calibration."""
    port, _ = server
    cli("--headless", f"--project={data / 'MyProject.ilp'}", "--output_format=hdf5", "--output_axis_order=tzyxc",
        f"--output_filename_format={data / 'fiji_probabilities.h5'}", str(data / "images" / "timelapse.tif"), cwd=data)
    printed = ok(run_macro(plugin, imagej_home, settings(port) + f"""
run("Import HDF5 (pixelserve)", "file=[{data}/fiji_probabilities.h5]");
getDimensions(w, h, c, z, t); print("dims=" + w + "," + h + "," + c + "," + z + "," + t + " bits=" + bitDepth());
getVoxelSize(pw, ph, pd, unit); print("voxel=" + pw);
saveAs("Tiff", "{tmp_path}/imported.tif");
"""))
    assert "dims=128,128,2,1,3 bits=32" in printed and "voxel=0.5" in printed
    with h5py.File(data / "fiji_probabilities.h5") as file:
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "imported.tif"), file["exported_data"][()].transpose(0, 1, 4, 2, 3).squeeze(1))


# --- training -------------------------------------------------------------------------------

def test_training_from_a_label_image_equals_the_command_line(plugin, imagej_home, data, server, tmp_path):
    port, _ = server
    ok(run_macro(plugin, imagej_home, settings(port) + f"""
open("{data}/train.tif");
open("{data}/train_labels.tif");
run("Train Pixel Classifier", "raw_data=train.tif labels=train_labels.tif output=[{data}/fiji_trained.ilp] label_names=[background,cell] trees=10 seed=0");
open("{data}/images/cells_2.tif");
run("Pixel Classification", "project=[{data}/fiji_trained.ilp] raw_data=cells_2.tif");
saveAs("Tiff", "{tmp_path}/fiji.tif");
"""))
    expected = cli_result(data / "MyProject.ilp", data / "images" / "cells_2.tif", tmp_path / "cli.tif")
    np.testing.assert_allclose(tifffile.imread(tmp_path / "fiji.tif"), expected, atol=1e-6)


def test_training_from_rois_one_class_per_group(plugin, imagej_home, data, server, tmp_path):
    port, _ = server
    printed = ok(run_macro(plugin, imagej_home, settings(port) + f"""
newImage("spots", "8-bit black", 128, 128, 1);
setColor(200); fillOval(20, 20, 30, 30); fillOval(70, 60, 30, 30);
makeOval(28, 28, 14, 14); Roi.setGroup(2); Overlay.addSelection;
makeLine(5, 110, 120, 110); Roi.setStrokeWidth(3); Roi.setGroup(1); Overlay.addSelection;
makeRectangle(60, 5, 40, 10); Roi.setGroup(1); Overlay.addSelection;
run("Select None");
run("Train Pixel Classifier", "raw_data=spots output=[{data}/spots.ilp] label_names=[background,spot] trees=10");
run("Pixel Classification", "project=[{data}/spots.ilp] raw_data=spots export_source=[Simple Segmentation]");
getHistogram(values, counts, 256); print("background=" + counts[1] + " spot=" + counts[2]);
"""))
    spot = int(re.search(r"spot=(\d+)", printed).group(1))
    assert abs(spot - 2 * np.pi * 15 ** 2) < 150, printed  # the two discs, nothing else
    from pixelserve import open_project

    assert open_project(data / "spots.ilp").label_names == ["background", "spot"]


# --- a local server started and stopped with ImageJ -----------------------------------------

def test_a_local_server_starts_on_first_use_and_stops_with_imagej(plugin, imagej_home, data):
    printed = ok(run_macro(plugin, imagej_home, f"""
run("Server Settings", "port=0 command=[{BIN / 'pixelserve'} serve]");
open("{data}/images/cells_1.tif");
run("Pixel Classification", "project=[{data}/MyProject.ilp]");
print("title=" + getTitle());
"""))
    assert "title=cells_1-Probabilities" in printed
    pid = int(re.search(r"started a local server .* process (\d+)", printed).group(1))
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), \
        "the local server outlived ImageJ"


def cancelled_on_the_server(log: str, image: str) -> bool:
    """The server's log shows the call cancelled: while computing, or (on a busy machine)
    while the image was still arriving."""
    return f"{image}: cancelled by the client" in log or " Predict CANCELLED " in log


# --- from Python, in one process, through scyjava/JPype --------------------------------------

def test_driven_from_python_through_jpype(plugin, imagej_home, data, server, tmp_path):
    pytest.importorskip("scyjava", reason="scyjava is in the test extra: pip install -e '.[test]'")
    port, log = server
    image = cells_image((200, 240), seed=44)[0]
    np.save(tmp_path / "image.npy", image)
    big, _ = cells_image((1024, 1024), seed=45)
    tifffile.imwrite(tmp_path / "big.tif", np.tile(big, (6, 6)))  # 36 Mpx: seconds of computing to cancel
    config = {"classpath": [str(plugin["ij"]), str(plugin["tests_jar"])], "plugins_dir": str(imagej_home),
              "home": str(imagej_home / "user"), "port": port, "token": TOKEN, "project": str(data / "MyProject.ilp"),
              "image": str(tmp_path / "image.npy"), "big_image": str(tmp_path / "big.tif"), "escape_after": 2.0}
    (tmp_path / "config.json").write_text(json.dumps(config))
    run = subprocess.run([sys.executable, str(Path(__file__).parent / "fiji_jpype_driver.py"), str(tmp_path / "config.json")],
                         capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["channels"] == 2 and report["max_difference"] < 1e-6
    assert report["labels"] == ["background", "cell"]
    assert report["cancel_returned_after"] < 5 and not report["cancel_result_shown"]
    assert "Cancelled" in report["cancel_message"]
    assert cancelled_on_the_server(log.read_text(), "big.tif")


# --- the GUI under Xvfb: dialogs, the recorder, the Cancel button ---------------------------

@pytest.fixture(scope="module")
def display():
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb not found (scripts/setup_env.sh installs it with EXTRAS=test): the GUI test needs a display")
    number = next(n for n in range(91, 200) if not Path(f"/tmp/.X{n}-lock").exists())
    process = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert process.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.1)
    yield f":{number}"
    process.terminate()
    process.wait(10)


def test_dialogs_recorder_and_cancel_button_in_the_gui(plugin, imagej_home, data, server, cc_server, display, tmp_path):
    port, log = server
    big, _ = cells_image((1024, 1024), seed=46)
    tifffile.imwrite(data / "images" / "big.tif", np.tile(big, (6, 6)))
    shots = tmp_path / "shots"
    command = ["java", f"-Dplugins.dir={imagej_home}", f"-Duser.home={tmp_path}",
               f"-Dpixelserve.port={port}", f"-Dpixelserve.token={TOKEN}",
               f"-Dpixelserve.project={data / 'MyProject.ilp'}", f"-Dpixelserve.image={data / 'images' / 'cells_1.tif'}",
               f"-Dpixelserve.big_image={data / 'images' / 'big.tif'}", f"-Dpixelserve.h5={data / 'volume.h5'}",
               f"-Dpixelserve.cc_port={cc_server[0]}", f"-Dpixelserve.cc_project={data / 'Components.ilp'}",
               "-cp", f"{plugin['ij']}{os.pathsep}{plugin['tests_jar']}", "org.pixelserve.fiji.testing.GuiDriver", str(shots)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=imagej_home,
                         env=dict(os.environ, DISPLAY=display), check=False)
    report = (shots / "report.txt").read_text() if (shots / "report.txt").exists() else ""
    assert run.returncode == 0 and report.endswith("done\n"), report + run.stdout + run.stderr
    print(run.stdout)  # each step with its time, for pytest -s
    assert "export sources: Probabilities, Simple Segmentation, Uncertainty, Features, Labels" in report
    stopped = re.search(r"cancel: stopped ([\d.]+) s after pressing Cancel \(Macro canceled\); result shown: false", report)
    assert stopped and float(stopped.group(1)) < 5, report
    assert cancelled_on_the_server(log.read_text(), "big.tif")

    # The recorder wrote the documented keys; the recorded line reproduces the result headless.
    recorded = (shots / "recorded.ijm").read_text()
    line = f'run("Pixel Classification", "project={data}/MyProject.ilp raw_data=cells_1.tif prediction_mask=None export_source=Probabilities");'
    assert line in recorded, recorded
    ok(run_macro(plugin, imagej_home, settings(port) + f'open("{data}/images/cells_1.tif");\n' + line
                 + f'\nsaveAs("Tiff", "{tmp_path}/replayed.tif");\n'))
    expected = cli_result(data / "MyProject.ilp", data / "images" / "cells_1.tif", tmp_path / "cli.tif")
    np.testing.assert_allclose(tifffile.imread(tmp_path / "replayed.tif"), expected, atol=1e-6)

    # Run Project: the project's dialog, then its images and options, recorded as one line.
    assert "table: cells_1-objects 25 rows" in report, report
    recorded = (shots / "recorded-run-project.ijm").read_text()
    line = (f'run("Run Project", "project={data}/Components.ilp raw_data=cells_1.tif export_source=[Object Identities] '
            'threshold=120 table_filename=[]");')
    assert line in recorded, recorded
    replayed = ok(run_macro(plugin, imagej_home, cc_settings(cc_server[0]) + f'open("{data}/images/cells_1.tif");\n' + line
                            + '\nprint("title=" + getTitle() + " rows=" + nResults);\n'))
    assert "title=cells_1-Object Identities rows=25" in replayed

    for name in ("pixel-classification-dialog.png", "pixel-classification-result.png", "train-dialog.png",
                 "import-hdf5-dialog.png", "server-settings-dialog.png", "progress-cancel.png", "batch-dialog.png",
                 "run-project-dialog.png"):
        with Image.open(shots / name) as shot:
            assert shot.size[0] > 100 and len(set(shot.convert("L").get_flattened_data())) > 2, name  # drawn, not blank
    if os.environ.get("PIXELSERVE_UPDATE_SCREENSHOTS"):
        for shot in shots.glob("*.png"):
            shutil.copy(shot, DOCS / "images" / f"fiji-{shot.name}")


# --- every macro in docs/fiji.md ------------------------------------------------------------

def doc_macros() -> list[str]:
    return re.findall(r"```ijm\n(.*?)```", (DOCS / "fiji.md").read_text(), flags=re.DOTALL)


EXPECTED_ERROR = re.compile(r"//\s*fails with: (.+)")


@pytest.mark.parametrize("index", range(len(doc_macros())))
def test_docs_macros_run(plugin, imagej_home, data, server, cc_server, counting, shapes, index):
    port, _ = server
    if "CellTracking.ilp" in doc_macros()[index] and not (data / "CellTracking.ilp").exists():
        pytest.skip(f"ilastik fixtures not found at {fixtures_dir()} (set PIXELSERVE_FIXTURES)")
    macro = doc_macros()[index].replace("/data/", f"{data}/")
    if 'run("Server Settings"' in macro:
        macro = macro.replace("/home/me/venv/bin/pixelserve", str(BIN / "pixelserve"))
    elif "Components.ilp" in macro:  # the test suite's own workflow runs on a server that knows it
        macro = cc_settings(cc_server[0]) + macro
    else:
        macro = settings(port) + macro
    result = run_macro(plugin, imagej_home, macro)
    expected = EXPECTED_ERROR.search(macro)
    if expected:
        assert expected.group(1).strip() in failing(result)
        return
    printed = ok(result)
    # What a print() is said to print (its comment) is what it prints; so are the comment
    # lines right after a loop that prints.
    lines = macro.splitlines()
    for number, line in enumerate(lines):
        if "print(" in line and "//" in line:
            assert line.split("//", 1)[1].strip() in printed, (line, printed)
        if line.lstrip().startswith("print(") and number > 0 and lines[number - 1].lstrip().startswith("for ("):
            follow = number + 1
            while follow < len(lines) and lines[follow].startswith("//"):
                assert " ".join(lines[follow][2:].split()) in " ".join(printed.split()), (lines[follow], printed)
                follow += 1
