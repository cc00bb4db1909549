"""ilastik's tracking export plugins (`--export_plugin`), each writing ilastik's file format.

Formats read from ilastik's `ilastik/plugins_default/tracking_*_export.py` (JSON and
H5-Event-Sequence from the version before their removal in 2026, a5f4e16f1); the code is ours.
Every writer takes the base path ilastik's plugin gets (a file name without extension, or a
folder for CellTrackingChallenge and H5-Event-Sequence) and a `TrackingExport` holding what
ilastik's PluginExportContext offers, and returns the files it wrote.

    CSV-Table              <path>.csv
    JSON                   <path>_graph.json, <path>_result.json
    H5-Event-Sequence      <folder>/<frame:05d>.h5
    CellTrackingChallenge  <folder>/res_track.txt, <folder>/mask<frame>.tif
    Fiji-MaMuT             <path>_mamut.xml
    Multi-Worm-Tracker     <path>.summary, <path>.blobs
    Contours               <path>.outline
    Contours-With-Head     <path>.contours
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from ...errors import UserError
from ...export.chunk_assembly import remove_path
from .context import TrackingExport
from .contours import write_contours, write_contours_with_head, write_multi_worm_tracker
from .ctc import write_cell_tracking_challenge
from .mamut import write_mamut
from .tables import write_csv_table, write_h5_event_sequence, write_json

PLUGINS = {
    "CSV-Table": write_csv_table,
    "JSON": write_json,
    "H5-Event-Sequence": write_h5_event_sequence,
    "CellTrackingChallenge": write_cell_tracking_challenge,
    "Fiji-MaMuT": write_mamut,
    "Multi-Worm-Tracker": write_multi_worm_tracker,
    "Contours": write_contours,
    "Contours-With-Head": write_contours_with_head,
}
#: Plugins whose path is a folder (ilastik's `exportsToFile = False`).
FOLDER_PLUGINS = ("H5-Event-Sequence", "CellTrackingChallenge")


def export_plugin(name: str, path: str | Path, export: TrackingExport) -> list[Path]:
    """Write the files of the plugin called `name` (ilastik's spelling, case-insensitive);
    returns their paths. Like every export they appear complete or not at all: the plugin
    writes into a temporary folder beside them, whose files are then moved into place."""
    by_lower = {plugin.lower(): plugin for plugin in PLUGINS}
    if name.lower() not in by_lower:
        raise UserError(f"Unknown tracking export plugin '{name}'. Fix: use one of "
                        + ", ".join(f"'{plugin}'" for plugin in PLUGINS) + ".")
    path = Path(path).absolute()
    if path.parent.exists() and not path.parent.is_dir():
        raise UserError(f"The export {path} would go below {path.parent}, which is a file. Fix: choose another "
                        "--output_filename_format.")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.part"
    temporary.mkdir()
    try:
        written = PLUGINS[by_lower[name.lower()]](temporary / path.name, export)
        final = []
        for file in written:
            target = path.parent / file.relative_to(temporary)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
            final.append(target)
        return final
    finally:
        remove_path(str(temporary))


__all__ = ["FOLDER_PLUGINS", "PLUGINS", "TrackingExport", "export_plugin"]
