"""Tracking exports: every --export_plugin format read back, and the label sources.

Two movies: the TrackingwLearning5t2d1c_wBin fixture (mergers, resolved) tracked from its cached
features and label frames, and a rendered version of the scripted movie of
test_tracking_solvers (a division). Split objects' features are computed from their pixels in
the fixture's raw data, as ilastik's relabelled-merger feature operator does.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import h5py
import numpy as np
import pytest
import tifffile
from skimage import measure

from conftest import fixtures_dir
from pixelserve.objects.catalog import DIVISION
from pixelserve.project.ilp import read_project_file
from pixelserve.project.tracking import (
    read_stored_features,
    read_stored_label_frame,
    read_tracking_project,
)
from pixelserve.tracking.lineage import NO_ID
from pixelserve.tracking.pipeline import track_detections
from pixelserve.tracking.plugins import PLUGINS, TrackingExport, export_plugin
from pixelserve.tracking.plugins.contours import object_contour
from pixelserve.tracking.relabel import features_with_split_mergers, id_table, relabel, split_mergers
from test_tracking_fixtures import _detections, stored_graph
from test_tracking_solvers import parameters, scripted_movie


def standard_features(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Count, RegionCenter, RegionRadii, RegionAxes and bounds of a 2D (1, y, x) label frame, in
    ilastik's x, y order (plain numpy; enough to test the exports)."""
    n = int(labels.max()) + 1
    features = {"Count": np.zeros((n, 1), np.float32), "RegionCenter": np.zeros((n, 2), np.float32),
                "RegionRadii": np.zeros((n, 2), np.float32), "RegionAxes": np.zeros((n, 4), np.float32),
                "Coord<Minimum>": np.zeros((n, 2), np.float32), "Coord<Maximum>": np.zeros((n, 2), np.float32)}
    for label in range(1, n):
        ys, xs = np.nonzero(labels[0] == label)
        if not xs.size:
            continue
        points = np.column_stack([xs, ys]).astype(np.float64)
        values, vectors = np.linalg.eigh(np.cov(points.T, bias=True) if xs.size > 1 else np.zeros((2, 2)))
        order = np.argsort(values)[::-1]
        features["Count"][label] = xs.size
        features["RegionCenter"][label] = points.mean(axis=0)
        features["RegionRadii"][label] = np.sqrt(np.maximum(values[order], 0))
        features["RegionAxes"][label] = vectors[:, order].ravel()
        features["Coord<Minimum>"][label] = points.min(axis=0)
        features["Coord<Maximum>"][label] = points.max(axis=0)
    return features


@dataclass
class Movie:
    export: TrackingExport
    labels: dict[int, np.ndarray]       # the label frames the plugins see
    resolved: dict


@pytest.fixture(scope="module")
def merger_movie(test_projects) -> Movie:
    path = test_projects / "TrackingwLearning5t2d1c_wBin.ilp"
    file = h5py.File(path, "r")
    project = read_tracking_project(file, read_project_file(file, path))
    detections = _detections(file, project, stored_graph(file))
    result = track_detections(detections, project.parameters, lambda t: read_stored_label_frame(file, t))
    labels = {t: split_mergers(read_stored_label_frame(file, t), result.mergers.get(t, {})) for t in range(5)}
    with h5py.File(fixtures_dir() / "inputdata" / "5t2d1c.h5", "r") as raw_file:
        movie = raw_file["data"][()][:, None]         # t, z, y, x, c
    # what ilastik's plugins read after merger resolution: no division features, the split
    # objects' features added (features_with_split_mergers)
    features = {t: features_with_split_mergers(
        {plugin: arrays for plugin, arrays in read_stored_features(file, t).items() if plugin != DIVISION},
        movie[t], read_stored_label_frame(file, t), labels[t], coord_maximum_exclusive=False) for t in range(5)}
    raw = {t: np.stack([labels[t], labels[t], (labels[t] > 0) * 1.0], axis=-1) for t in range(5)}
    file.close()
    export = TrackingExport(result.graph, result.lineage, 5, project.parameters, labels.__getitem__,
                            features.__getitem__, raw.__getitem__, bdv_file="/data/movie_bdv.xml")
    return Movie(export, labels, result.mergers)


@pytest.fixture(scope="module")
def division_movie() -> Movie:
    detections = scripted_movie()
    result = track_detections(detections, parameters(8), method="ilp")
    labels = {}
    yy, xx = np.mgrid[:200, :200]
    for t in range(8):
        frame = np.zeros((1, 200, 200), np.uint32)
        for i in np.flatnonzero(detections.frame == t):
            x, y = detections.center[i, :2]
            frame[0][(xx - x) ** 2 + (yy - y) ** 2 <= 9] = detections.label[i]
        labels[t] = frame
    features = {t: {"Default features": standard_features(labels[t]),
                    "Standard Object Features": standard_features(labels[t])} for t in range(8)}
    export = TrackingExport(result.graph, result.lineage, 8, parameters(8), labels.__getitem__, features.__getitem__)
    return Movie(export, labels, {})


# -- CellTrackingChallenge ---------------------------------------------------------------------

def check_ctc(folder: Path, n_frames: int, shape: tuple[int, ...]) -> dict[int, tuple[int, int, int]]:
    """The rules of celltrackingchallenge.net's result format ("Naming and file content
    conventions"); returns the tracks."""
    digits = 4 if n_frames > 1000 else 3
    masks = sorted(folder.glob("mask*.tif"))
    assert [m.name for m in masks] == [f"mask{t:0{digits}d}.tif" for t in range(n_frames)]
    tracks = {}
    for line in (folder / "res_track.txt").read_text().splitlines():
        assert re.fullmatch(r"\d+ \d+ \d+ \d+", line), line
        label, begin, end, parent = map(int, line.split())
        assert label > 0 and label not in tracks and 0 <= begin <= end < n_frames
        tracks[label] = (begin, end, parent)
    present: dict[int, set[int]] = {}
    for t, mask_path in enumerate(masks):
        mask = tifffile.imread(mask_path)
        assert mask.dtype == np.uint16 and mask.shape == shape
        for label in np.unique(mask[mask > 0]).tolist():
            present.setdefault(label, set()).add(t)
    assert set(present) <= set(tracks), "every mask label is a listed track"
    for label, (begin, end, parent) in tracks.items():
        assert present.get(label) == set(range(begin, end + 1)), f"track {label} not in exactly frames {begin}..{end}"
        if parent:
            assert parent in tracks and tracks[parent][1] < begin, f"parent of {label} must end before it starts"
    for label in tracks:        # no track is its own ancestor
        seen, current = set(), label
        while current:
            assert current not in seen
            seen.add(current)
            current = tracks[current][2]
    return tracks


@pytest.mark.parametrize("movie_name", ["merger_movie", "division_movie"])
def test_cell_tracking_challenge_output_follows_the_format(movie_name, request, tmp_path):
    movie = request.getfixturevalue(movie_name)
    export = movie.export
    export_plugin("CellTrackingChallenge", tmp_path / "ctc", export)
    tracks = check_ctc(tmp_path / "ctc", export.n_frames, movie.labels[0].shape[1:])
    graph, lineage = export.graph, export.lineage
    assert set(tracks) == {int(t) - 1 for t in lineage.track if t != NO_ID}
    for child in np.flatnonzero(lineage.parent >= 0):
        assert tracks[int(lineage.track[child]) - 1][2] == int(lineage.track[lineage.parent[child]]) - 1
    mask = tifffile.imread(tmp_path / "ctc" / "mask002.tif")
    for node in np.flatnonzero((graph.frame == 2) & (lineage.track != NO_ID)):
        assert np.all(mask[movie.labels[2][0] == graph.label[node]] == lineage.track[node] - 1)
    if movie_name == "division_movie":
        assert sum(parent > 0 for _, _, parent in tracks.values()) == 2


# -- Fiji-MaMuT --------------------------------------------------------------------------------

def test_mamut_xml_has_the_structure_mamut_reads(merger_movie, tmp_path):
    export = merger_movie.export
    [path] = export_plugin("Fiji-MaMuT", tmp_path / "movie", export)
    assert path.name == "movie_mamut.xml"
    root = ElementTree.parse(path).getroot()
    assert root.tag == "TrackMate"
    model = root.find("Model")
    declared = {f.get("feature") for f in model.find("FeatureDeclarations/SpotFeatures")}
    spots = {spot.get("ID"): spot for spot in model.iter("Spot")}
    for frame in model.find("AllSpots"):
        assert all(spot.get("FRAME") == frame.get("frame") for spot in frame)
    assert int(model.find("AllSpots").get("nspots")) == len(spots) == int(np.sum(export.graph.value > 0))
    for spot in spots.values():
        for key in ("ID", "name", "POSITION_X", "POSITION_Y", "POSITION_Z", "POSITION_T", "FRAME", "RADIUS",
                    "QUALITY", "VISIBILITY"):
            assert spot.get(key) is not None
        assert set(spot.attrib) - {"ID", "name"} <= declared
    edges = [edge for track in model.find("AllTracks") for edge in track]
    assert len(edges) == int(np.sum(export.graph.link_value > 0))
    for edge in edges:
        assert edge.get("SPOT_SOURCE_ID") in spots and edge.get("SPOT_TARGET_ID") in spots
    tracks = {track.get("TRACK_ID") for track in model.find("AllTracks")}
    assert {t.get("TRACK_ID") for t in model.find("FilteredTracks")} == tracks
    image = root.find("Settings/ImageData")
    assert (image.get("folder"), image.get("filename")) == ("/data", "movie_bdv.xml")


# -- tables ------------------------------------------------------------------------------------

@pytest.mark.parametrize("movie_name", ["merger_movie", "division_movie"])
def test_csv_table_reads_back(movie_name, request, tmp_path):
    export = request.getfixturevalue(movie_name).export
    [path] = export_plugin("CSV-Table", tmp_path / "movie", export)
    table = np.genfromtxt(path, delimiter=",", names=True)
    graph, lineage = export.graph, export.lineage
    order = np.lexsort((graph.label, graph.frame))
    assert table["frame"].tolist() == graph.frame[order].tolist()
    assert table["labelimageId"].tolist() == graph.label[order].tolist()
    assert table["trackId"].tolist() == lineage.track[order].tolist()
    assert table["lineageId"].tolist() == lineage.lineage[order].tolist()
    parent_track = np.where(lineage.parent >= 0, lineage.track[lineage.parent], 0)
    assert table["parentTrackId"].tolist() == parent_track[order].tolist()
    assert table["mergerLabelId"].tolist() == graph.merger_label[order].tolist()
    header = path.read_text().splitlines()[0].split(",")
    # ilastik's display names (objects.catalog.display_name), spaces as "_"
    assert "Size_in_pixels_0" in header and "Center_of_the_object_1" in header
    assert "Histogram" not in ",".join(header) and "Count_0" not in header


def test_json_reads_back(merger_movie, tmp_path):
    export = merger_movie.export
    model_path, result_path = export_plugin("JSON", tmp_path / "movie", export)
    model, result = json.loads(model_path.read_text()), json.loads(result_path.read_text())
    graph = export.graph
    assert [d["value"] for d in result["detectionResults"]] == graph.value.tolist()
    assert [d["id"] for d in result["detectionResults"]] == graph.uuid.tolist()
    assert [link["value"] for link in result["linkingResults"]] == graph.link_value.tolist()
    assert [d["value"] for d in result["divisionResults"]] == graph.division.tolist()
    ids = model["traxelToUniqueId"]
    assert all(ids[str(t)][str(label)] == uuid for t, label, uuid in zip(graph.frame, graph.label, graph.uuid))
    first = model["segmentationHypotheses"][0]
    assert first["features"] == [[-np.log(p)] for p in graph.detection[0]]
    assert set(first) >= {"id", "features", "appearanceFeatures", "disappearanceFeatures", "timestep"}
    assert len(model["linkingHypotheses"]) == len(graph.source)


def test_h5_event_sequence_reads_back(division_movie, tmp_path):
    export = division_movie.export
    files = export_plugin("H5-Event-Sequence", tmp_path / "events", export)
    assert [f.name for f in files] == [f"{t:05d}.h5" for t in range(8)]
    graph = export.graph
    used = graph.link_value > 0
    for t, path in enumerate(files):
        with h5py.File(path, "r") as file:
            assert np.array_equal(file["segmentation/labels"][0, ..., 0], division_movie.labels[t][0].T[..., None])
            into = used & (graph.frame[graph.target] == t)
            expected = sorted(zip(graph.label[graph.source[into]].tolist(), graph.label[graph.target[into]].tolist()))
            moves = sorted(map(tuple, file["tracking/Moves"][()].tolist())) if "tracking/Moves" in file else []
            assert moves == expected
            assert ("tracking/Splits" in file) == (t == 4)
    with h5py.File(files[4], "r") as file:
        mother, *_ = file["tracking/Splits"][0]
        assert graph.division[np.flatnonzero((graph.frame == 3) & (graph.label == mother))[0]]


# -- contours ----------------------------------------------------------------------------------

def test_object_contour_equals_scikit_images_on_the_whole_frame(merger_movie):
    frame = merger_movie.labels[1][0].T
    for label in np.unique(frame[frame > 0]).tolist():
        whole = measure.find_contours((frame == label).astype(np.uint8), 0)[0]
        np.testing.assert_array_equal(object_contour(frame, label), whole)


def test_outline_and_contours_lines(division_movie, tmp_path):
    export = division_movie.export
    [outline] = export_plugin("Contours", tmp_path / "movie", export)
    [with_head] = export_plugin("Contours-With-Head", tmp_path / "movie",
                                TrackingExport(**{**export.__dict__, "raw_frame": lambda t: np.stack(
                                    [division_movie.labels[t]] * 3, axis=-1).astype(float)}))
    lineages = sorted({int(v) for v in export.lineage.lineage if v != NO_ID})
    rows = [line.split() for line in outline.read_text().splitlines()]
    assert sorted({int(row[1]) for row in rows}) == lineages
    for row in rows:
        frame = int(row[0].split("_")[1])
        points = np.array(row[3:], dtype=float).reshape(-1, 2)[:, ::-1]       # x, y
        labels = division_movie.labels[frame][0].T
        # level-0 contour points are background pixels next to the object
        assert np.all(labels[points[:, 0].astype(int), points[:, 1].astype(int)] == 0)
    for line in with_head.read_text().splitlines():
        _, _, head, count, *coordinates = line.split()
        assert len(coordinates) == 2 * int(count) and 0 <= int(head) < int(count)


def _decode(encoded: str, steps: int) -> list[str]:
    bits = "".join(format(ord(c) - ord("0"), "06b") for c in encoded)
    return [bits[2 * i:2 * i + 2] for i in range(steps)]


def test_multi_worm_tracker_files(division_movie, tmp_path):
    export = division_movie.export
    summary, blobs = export_plugin("Multi-Worm-Tracker", tmp_path / "movie", export)
    lines = summary.read_text().splitlines()
    assert [int(line.split()[1]) for line in lines] == list(range(8))
    assert [int(line.split()[2]) for line in lines] == [int(np.sum(export.graph.frame == t)) for t in range(8)]
    label = None
    codes = {(-1, 0): "00", (1, 0): "01", (0, -1): "10", (0, 1): "11"}
    for line in blobs.read_text().splitlines():
        if line.startswith("% "):
            label = int(line[2:])
            continue
        head, tail = line.split(" %% ")
        frame = int(head.split()[1])
        x0, y0, steps, encoded = tail.split()
        contour = object_contour(division_movie.labels[frame][0].T, label)
        assert (float(x0), float(y0)) == tuple(contour[0])
        expected = []
        for (ax, ay), (bx, by) in itertools.pairwise(contour):
            dx, dy = int(bx - ax), int(by - ay)
            expected += [codes[(dx, 0)], codes[(0, dy)]] if dx and dy else [codes[(dx, dy)]]
        assert int(steps) == len(expected) + 1
        assert _decode(encoded, len(expected)) == expected


def test_every_plugin_is_offered():
    assert list(PLUGINS) == ["CSV-Table", "JSON", "H5-Event-Sequence", "CellTrackingChallenge", "Fiji-MaMuT",
                             "Multi-Worm-Tracker", "Contours", "Contours-With-Head"]


# -- label sources -----------------------------------------------------------------------------

def test_label_sources(merger_movie, test_projects):
    export, resolved = merger_movie.export, merger_movie.resolved
    graph, lineage = export.graph, export.lineage
    path = test_projects / "TrackingwLearning5t2d1c_wBin.ilp"
    with h5py.File(path, "r") as file:
        original = read_stored_label_frame(file, 0)
    identities = merger_movie.labels[0]
    for merger, fit in resolved[0].items():
        assert set(np.unique(identities[original == merger]).tolist()) == set(fit.new_labels.tolist())
    result = relabel(identities, id_table(graph, lineage, 0, identities.max()))
    for node in np.flatnonzero(graph.frame == 0):
        expected = lineage.lineage[node] if lineage.lineage[node] != NO_ID else 1
        assert np.all(result[identities == graph.label[node]] == expected)
    mergers = relabel(identities, id_table(graph, lineage, 0, identities.max(), mergers_only=True, resolved=resolved))
    split = np.isin(identities, np.concatenate([fit.new_labels for fit in resolved[0].values()]))
    assert np.all(mergers[~split] == 0) and np.all(mergers[split] > 1)
    tracks = relabel(identities, id_table(graph, lineage, 0, identities.max(), ids="track"))
    assert set(np.unique(tracks).tolist()) <= {0, 1} | set(lineage.track[graph.frame == 0].tolist())
