"""CellTrackingChallenge export (tracking_ctc_export.py; format: celltrackingchallenge.net,
"Naming and file content conventions").

`res_track.txt`: one line `L B E P` per track (ilastik's track id - 1, first and last frame,
the mother's label or 0), in order of the tracks' first detection; `mask<frame>.tif`: each
frame's labels replaced by track id - 1, uint16, 0 for background and false detections.

Differences from ilastik, each to keep the output a valid CTC result:
- frame numbers have three digits, four when the movie has more than 1000 frames (ilastik
  always pads to three, so frame 1000 would follow "mask999.tif" as "mask1000.tif");
- 3D masks are written z, y, x (ilastik transposes them to x pages of y, z);
- a frame in which tracking kept no object is written empty (ilastik writes its object labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from ..lineage import NO_ID
from ..relabel import relabel
from .context import TrackingExport


def frame_name(frame: int, n_frames: int) -> str:
    return f"mask{frame:0{4 if n_frames > 1000 else 3}d}.tif"


def write_cell_tracking_challenge(path: Path, export: TrackingExport) -> list[Path]:
    graph, lineage = export.graph, export.lineage
    path.mkdir(parents=True, exist_ok=True)
    tracks: dict[int, list[int]] = {}          # track id -> [first frame, last frame, parent]
    for node in range(len(graph)):
        track = int(lineage.track[node])
        if track == NO_ID:
            continue
        frame = int(graph.frame[node])
        span = tracks.setdefault(track, [frame, frame, 0])
        span[0], span[1] = min(span[0], frame), max(span[1], frame)
        if lineage.parent[node] >= 0:
            span[2] = int(lineage.track[lineage.parent[node]])
    text = "".join(f"{track - 1} {first} {last} {max(0, parent - 1)}\n"
                   for track, (first, last, parent) in tracks.items())
    written = [path / "res_track.txt"]
    written[0].write_text(text)
    for frame in range(export.n_frames):
        labels = export.label_frame(frame)
        nodes = export.frame_nodes(frame)
        table = np.zeros(max(int(labels.max(initial=0)), int(graph.label[nodes].max(initial=0))) + 1, dtype=np.int64)
        kept = nodes[lineage.track[nodes] != NO_ID]
        table[graph.label[kept]] = lineage.track[kept] - 1
        mask = relabel(labels, table).astype(np.uint16)
        target = path / frame_name(frame, export.n_frames)
        tifffile.imwrite(target, mask[0] if mask.shape[0] == 1 else mask)
        written.append(target)
    return written
