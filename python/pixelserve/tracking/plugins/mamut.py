"""Fiji-MaMuT export (tracking_mamut_export.py): `<path>_mamut.xml`, a TrackMate/MaMuT document.

What ilastik writes, through its MamutXmlBuilder: one spot per detection with a value > 0 (ID =
hytra's node id, name "track-<track id>", POSITION_X/Y/Z = RegionCenter, RADIUS = 2 x the
first RegionRadii, FRAME and POSITION_T = the frame, QUALITY 3) carrying every object feature
(array columns as `<name>_<column>`, "<" as "_", ">" and spaces dropped; "Histogram" left
out), LabelimageId and Track_color; one Track element per track id holding the links in use
that leave that track's detections (so a division's two links sit in the mother's track);
FilteredTracks listing the tracks; and Settings/ImageData pointing at the BigDataViewer XML.
The document skeleton (root `TrackMate`, `Model` with `FeatureDeclarations`, `AllSpots`,
`AllTracks`, `FilteredTracks`; `Settings`; `GUIState`) is TrackMate's file format, which
MaMuT reads. Track colours are random, as in ilastik, but from a seeded generator.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from ...objects.catalog import STANDARD
from ..lineage import NO_ID
from .context import TrackingExport

_SPOT_FEATURES = [("QUALITY", "Quality", "QUALITY"), ("POSITION_X", "X", "POSITION"),
                  ("POSITION_Y", "Y", "POSITION"), ("POSITION_Z", "Z", "POSITION"), ("POSITION_T", "T", "TIME"),
                  ("FRAME", "Frame", "NONE"), ("RADIUS", "Radius", "LENGTH"), ("VISIBILITY", "Visibility", "NONE")]
_EDGE_FEATURES = [("SPOT_SOURCE_ID", "Source spot ID", "NONE"), ("SPOT_TARGET_ID", "Target spot ID", "NONE"),
                  ("LINK_COST", "Link cost", "NONE"), ("VELOCITY", "Velocity", "VELOCITY"),
                  ("DISPLACEMENT", "Displacement", "LENGTH")]
_TRACK_FEATURES = [("TRACK_ID", "Track ID", "NONE"), ("TRACK_INDEX", "Track index", "NONE")]


def feature_key(name: str) -> str:
    """ilastik's `convertKeyName`."""
    return name.replace("<", "_").replace(">", "").replace(" ", "")


def short_name(key: str) -> str:
    """ilastik's `getShortname` for keys longer than 15 characters (two letters, then the three
    letters after each underscore)."""
    short = key[:2]
    for i, letter in enumerate(key):
        try:
            if letter == "_":
                for step in (1, 2, 3):
                    short += key[i + step]
            if short == "WeReg":
                for step in (7, 8, 9):
                    short += key[i + step]
        except IndexError:      # ilastik stops at the end of the name, keeping what it added
            break
    return short.strip()


def write_mamut(path: Path, export: TrackingExport) -> list[Path]:
    graph, lineage = export.graph, export.lineage
    features_of = export.need_features("Fiji-MaMuT")
    rng = np.random.default_rng(export.seed)
    root = ElementTree.Element("TrackMate", version="3.3.0")
    model = ElementTree.SubElement(root, "Model", spatialunits="pixels", timeunits="frames")
    declarations = ElementTree.SubElement(model, "FeatureDeclarations")
    spot_features = ElementTree.SubElement(declarations, "SpotFeatures")
    for key, name, dimension in _SPOT_FEATURES:
        _declare(spot_features, key, name, key, dimension, key in ("FRAME", "VISIBILITY"))
    active = np.flatnonzero(graph.value > 0)
    if active.size:
        for table in features_of(int(graph.frame[active[0]])).values():
            for name, values in table.items():
                key = feature_key(name)
                short = short_name(key).replace("_", "") if len(key) > 15 else key.replace("_", "")
                values = np.asarray(values)
                if values.ndim == 2 and name != "Histogram":
                    for column in range(values.shape[1]):
                        _declare(spot_features, f"{key}_{column}", key, f"{short}_{column}", "NONE", False)
                elif values.ndim != 2:
                    _declare(spot_features, key, key, short, "NONE", False)
        _declare(spot_features, "LabelimageId", "LabelimageId", "labelid", "NONE", False)
        _declare(spot_features, "Track_color", "Track_color", "trackcol", "NONE", False)
    edge_features = ElementTree.SubElement(declarations, "EdgeFeatures")
    for key, name, dimension in _EDGE_FEATURES:
        _declare(edge_features, key, name, key, dimension, key.startswith("SPOT"))
    track_features = ElementTree.SubElement(declarations, "TrackFeatures")
    for key, name, dimension in _TRACK_FEATURES:
        _declare(track_features, key, name, key, dimension, True)
    _declare(track_features, "Track_color", "Track_color", "trackcol", "NONE", False)

    used = np.flatnonzero(graph.link_value > 0)
    colours: dict[int, float] = {}
    track_links: dict[int, list[int]] = {}
    for link in used.tolist():
        track = int(lineage.track[graph.source[link]])
        track_links.setdefault(track, []).append(link)
        colours.setdefault(track, float(rng.random()))
    all_spots = ElementTree.SubElement(model, "AllSpots", nspots=str(active.size))
    for frame in np.unique(graph.frame[active]).tolist():
        in_frame = ElementTree.SubElement(all_spots, "SpotsInFrame", frame=str(frame))
        features = features_of(frame)
        for node in active[graph.frame[active] == frame].tolist():
            label = int(graph.label[node])
            track = int(lineage.track[node])
            center = np.asarray(features[STANDARD]["RegionCenter"][label], dtype=np.float64)
            spot = ElementTree.SubElement(in_frame, "Spot", ID=str(int(graph.uuid[node])),
                                          name=f"track-{track if track != NO_ID else None}", VISIBILITY="1",
                                          POSITION_T=str(float(frame)), POSITION_Z=str(center[2] if center.size > 2
                                                                                       else 0.0),
                                          POSITION_Y=str(center[1]),
                                          RADIUS=str(float(2 * features[STANDARD]["RegionRadii"][label][0])),
                                          FRAME=str(frame), POSITION_X=str(center[0]), QUALITY="3.0")
            for table in features.values():
                for name, values in table.items():
                    if name == "Histogram":
                        continue
                    values = np.asarray(values)
                    key = feature_key(name)
                    if values.ndim == 2:
                        for column in range(values.shape[1]):
                            value = values[label, column] if label < values.shape[0] else (
                                9999.0 if "SquaredDistances" in name else 0.0)
                            spot.set(f"{key}_{column}", str(np.nan_to_num(value)))
                    else:
                        spot.set(key, str(np.nan_to_num(values[label] if values.ndim else values)))
            spot.set("Track_color", str(colours.get(track, float(rng.random()))))
            spot.set("LabelimageId", str(label))
    all_tracks = ElementTree.SubElement(model, "AllTracks")
    filtered = ElementTree.SubElement(model, "FilteredTracks")
    for track, links in track_links.items():
        element = ElementTree.SubElement(all_tracks, "Track", name=f"Track_{track}", TRACK_ID=str(track),
                                         TRACK_INDEX=str(track), Track_color=str(colours[track]))
        for link in links:
            ElementTree.SubElement(element, "Edge", SPOT_SOURCE_ID=str(int(graph.uuid[graph.source[link]])),
                                   SPOT_TARGET_ID=str(int(graph.uuid[graph.target[link]])), LINK_COST="0.0",
                                   VELOCITY="0.0", DISPLACEMENT="0.0")
        ElementTree.SubElement(filtered, "TrackID", TRACK_ID=str(track))
    settings = ElementTree.SubElement(root, "Settings")
    bdv = export.bdv_file or ""
    ElementTree.SubElement(settings, "ImageData", filename=os.path.basename(bdv), folder=os.path.dirname(bdv),
                           width="0", height="0", nslices="0", nframes="0", pixelwidth="1.0", pixelheight="1.0",
                           voxeldepth="1.0", timeinterval="1.0")
    ElementTree.SubElement(root, "GUIState")
    ElementTree.indent(root)
    target = path.with_name(path.name + "_mamut.xml")
    ElementTree.ElementTree(root).write(target, encoding="UTF-8", xml_declaration=True)
    return [target]


def _declare(parent, key: str, name: str, short: str, dimension: str, integer: bool) -> None:
    ElementTree.SubElement(parent, "Feature", feature=key, name=name, shortname=short, dimension=dimension,
                           isint="true" if integer else "false")
