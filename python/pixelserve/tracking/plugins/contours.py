"""Contours, Contours-With-Head and Multi-Worm-Tracker exports (2D movies only).

An object's contour is the first contour scikit-image's marching squares finds at level 0 in
the object's mask (`measure.find_contours(mask, 0)[0]`, on the label image in ilastik's x, y
order, so a point is (x, y)); here it is computed on the object's bounding box grown by one
pixel, which gives the same points.

- Contours (tracking_contour_export.py): `<path>.outline`, per lineage (sorted) and frame
  (sorted) a line `00000000_<frame:06d> <lineage:05d> 0.000 y x y x ...`; false detections are
  left out, and of two objects of one lineage in a frame the higher label's contour is kept.
- Contours-With-Head (tracking_contours_with_head_export.py): `<path>.contours`, per frame and
  object `frame lineage head n y x ...`, head = the contour point whose 41 x 41 window holds
  the most of raw channel 2 (the head probability).
- Multi-Worm-Tracker (tracking_mwt_export.py): `<path>.summary` (per frame: number of objects,
  mean radii and aspect ratio) and `<path>.blobs` (per object label, per frame: centre, size,
  major axis, radii, and the contour compressed into 2-bit steps, 3 steps per character).
  Values are float32 sums and products printed as Python floats; the summary's means are
  float32 sums divided in float64, as numpy 1.x computed them in ilastik.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage import measure

from ...errors import UserError
from ...objects.catalog import STANDARD
from .context import TrackingExport

HEAD_WINDOW = 20          # ilastik's CONV_WINDOW_SIZE
HEAD_CHANNEL = 2


def _frame_xy(export: TrackingExport, frame: int) -> np.ndarray:
    labels = export.label_frame(frame)
    if labels.shape[0] != 1:
        raise UserError("The contour exports (Contours, Contours-With-Head, Multi-Worm-Tracker) work on 2D "
                        "movies only. Fix: export a 3D movie with CSV-Table or CellTrackingChallenge.")
    return labels[0].T


def object_contour(frame_xy: np.ndarray, label: int) -> np.ndarray:
    """The first level-0 contour of one object, (n, 2) x, y points."""
    xs, ys = np.nonzero(frame_xy == label)
    x0, y0 = max(xs.min() - 1, 0), max(ys.min() - 1, 0)
    box = frame_xy[x0:xs.max() + 2, y0:ys.max() + 2]
    return measure.find_contours((box == label).astype(np.uint8), 0)[0] + [x0, y0]


def _points(contour: np.ndarray) -> str:
    return " ".join(f"{y} {x}" for x, y in contour.tolist())


def _tracked_objects(export: TrackingExport, frame: int, frame_xy: np.ndarray) -> list[int]:
    """Graph nodes of a frame whose label is in the image, in label order."""
    present = set(np.unique(frame_xy).tolist())
    nodes = [int(n) for n in export.frame_nodes(frame) if int(export.graph.label[n]) in present]
    return sorted(nodes, key=lambda node: export.graph.label[node])


def write_contours(path: Path, export: TrackingExport) -> list[Path]:
    contours: dict[int, dict[int, np.ndarray]] = {}
    for frame in range(export.n_frames):
        frame_xy = _frame_xy(export, frame)
        for node in _tracked_objects(export, frame, frame_xy):
            lineage = export.lineage_or_none(node)
            if lineage is not None:
                contours.setdefault(lineage, {})[frame] = object_contour(frame_xy, int(export.graph.label[node]))
    target = path.with_name(path.name + ".outline")
    with open(target, "w") as file:
        for lineage in sorted(contours):
            for frame in sorted(contours[lineage]):
                file.write(f"00000000_{frame:06d} {lineage:05d} 0.000 {_points(contours[lineage][frame])}\n")
    return [target]


def write_contours_with_head(path: Path, export: TrackingExport) -> list[Path]:
    if export.raw_frame is None:
        raise ValueError("the Contours-With-Head export needs the raw data")
    target = path.with_name(path.name + ".contours")
    with open(target, "w") as file:
        for frame in range(export.n_frames):
            frame_xy = _frame_xy(export, frame)
            raw = export.raw_frame(frame)
            if raw.shape[-1] <= HEAD_CHANNEL:
                raise UserError("Contours-With-Head reads the head probability from raw channel 3, but the raw "
                                f"data has {raw.shape[-1]} channel(s). Fix: choose another export plugin.")
            window_sums = _window_sums(raw[0, :, :, HEAD_CHANNEL].T.astype(np.float64))
            lines: dict[object, str] = {}
            for node in _tracked_objects(export, frame, frame_xy):
                contour = object_contour(frame_xy, int(export.graph.label[node]))
                index = contour.astype(np.int64)
                head = int(np.argmax(window_sums[index[:, 0], index[:, 1]]))
                lineage = export.lineage_or_none(node)
                lines[lineage] = f"{frame} {lineage} {head} {len(contour)} {_points(contour)}\n"
            file.writelines(lines.values())
    return [target]


def _window_sums(channel: np.ndarray) -> np.ndarray:
    """Sum of each pixel's (2 * HEAD_WINDOW + 1)^2 window, clipped to the image."""
    padded = np.pad(np.cumsum(np.cumsum(channel, axis=0), axis=1), ((1, 0), (1, 0)))
    x = np.arange(channel.shape[0])
    y = np.arange(channel.shape[1])
    x0, x1 = np.maximum(x - HEAD_WINDOW, 0), np.minimum(x + HEAD_WINDOW + 1, channel.shape[0])
    y0, y1 = np.maximum(y - HEAD_WINDOW, 0), np.minimum(y + HEAD_WINDOW + 1, channel.shape[1])
    return (padded[x1][:, y1] - padded[x0][:, y1] - padded[x1][:, y0] + padded[x0][:, y0])


def write_multi_worm_tracker(path: Path, export: TrackingExport) -> list[Path]:
    features_of = export.need_features("Multi-Worm-Tracker")
    summary_lines, blobs = [], {}
    for frame in range(export.n_frames):
        frame_xy = _frame_xy(export, frame)
        nodes = _tracked_objects(export, frame, frame_xy)
        if not nodes:
            continue
        standard = features_of(frame)[STANDARD]
        radii = np.asarray(standard["RegionRadii"], dtype=np.float32)
        labels = [int(export.graph.label[node]) for node in nodes]
        length = width = ratio = np.float32(0)
        with np.errstate(divide="ignore", invalid="ignore"):      # a zero radius gives inf, as in ilastik
            for label in labels:
                length, width = length + radii[label, 0], width + radii[label, 1]
                ratio = ratio + radii[label, 0] / radii[label, 1]
        count = len(labels)
        means = [float(length) / count, float(width) / count, float(ratio) / count]
        summary_lines.append(f"{frame + 1} {frame} {count} {count} 0.0 0.0 0.0 {means[0]} {means[0]} {means[1]} "
                             f"{means[1]} {means[2]} {means[2]} 0.0\n")
        for label in labels:
            blobs.setdefault(label, {})[frame] = (object_contour(frame_xy, label), _blob_values(standard, label))
    summary = path.with_name(path.name + ".summary")
    summary.write_text("".join(summary_lines))
    target = path.with_name(path.name + ".blobs")
    with open(target, "w") as file:
        for label in sorted(blobs):
            file.write(f"% {label}\n")
            for count, frame in enumerate(sorted(blobs[label]), start=1):
                contour, values = blobs[label][frame]
                steps, encoded = _encode(contour)
                numbers = " ".join(str(float(v)) for v in values)
                file.write(f"{count} {frame} {numbers} %% {contour[0, 0]} {contour[0, 1]} {steps + 1} {encoded}\n")
    return [summary, target]


def _blob_values(standard, label: int) -> list:
    center = np.asarray(standard["RegionCenter"], dtype=np.float32)[label]
    radii = np.asarray(standard["RegionRadii"], dtype=np.float32)[label]
    axes = np.asarray(standard["RegionAxes"], dtype=np.float32)[label]
    size = np.asarray(standard["Count"], dtype=np.float32)[label, 0]
    return [center[0], center[1], size, axes[0] * radii[0], axes[1] * radii[0], np.mean([radii[0], radii[1]]),
            radii[0], radii[1]]


_STEPS = {(-1, 0): "00", (1, 0): "01", (0, -1): "10", (0, 1): "11",
          (-1, -1): "0010", (-1, 1): "0011", (1, -1): "0110", (1, 1): "0111"}


def _encode(contour: np.ndarray) -> tuple[int, str]:
    """ilastik's contour compression: 2 bits per unit step (diagonals as two steps), packed six
    bits to a character offset from '0'; the tail is padded as ilastik pads it."""
    bits, characters, steps = "", [], 0
    last = len(contour) - 1
    for i in range(len(contour)):
        if i > 0:
            move = (contour[i, 0] - contour[i - 1, 0], contour[i, 1] - contour[i - 1, 1])
            code = _STEPS.get(move, "")
            bits += code
            steps += len(code) // 2
        if len(bits) == 6:
            characters.append(chr(int(bits, 2) + ord("0")))
            bits = ""
        elif len(bits) > 6:
            characters.append(chr(int(bits[:6], 2) + ord("0")))
            bits = bits[6:]
        elif i >= last:
            if len(bits) == 2:
                characters.append(chr(int(bits + "00001", 2) + ord("0")))
                bits = ""
            elif len(bits) == 4:
                characters.append(chr(int(bits + "00", 2) + ord("0")))
                bits = ""
    return steps, "".join(characters)
