"""The other files that reading a file may open, found without reading any of them, so that a
server can check them against its allowed roots before it reads anything.

- HDF5 (found by its signature, whatever the extension: .h5, .ilp, ...): the targets of
  external links, the files of external raw storage, and the source files of virtual
  datasets. HDF5 looks for a relative name in several places (the HDF5_EXT_PREFIX,
  HDF5_EXTFILE_PREFIX and HDF5_VDS_PREFIX variables, the linking file's folder, the working
  directory; the HDF5 reference manual on H5Lcreate_external, H5Pset_efile_prefix and
  H5Pset_virtual_prefix); every existing candidate counts. Soft links stay inside the file.
- N5 and zarr folders: the targets of the symbolic links inside them (a chunk file or folder
  may be one).
- OME-TIFF: the other files of a multi-file series, named in its OME-XML (tifffile opens
  them relative to the first file's folder).

Each call looks one level deep: a linked file may link further, so call again on each.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import h5py

from .paths import ZARR_EXTENSIONS

_FOLDER_CONTAINERS = (".n5", *ZARR_EXTENSIONS)
_TIFF_EXTENSIONS = (".tif", ".tiff")


@dataclass(frozen=True)
class Link:
    target: str  # an absolute path, symlinks not yet resolved
    how: str     # e.g. "the external link 'raw'"
    within_container: bool = False  # a file or folder of an N5/zarr container: read whole


def linked_files(path: str, *, within_container: bool = False) -> list[Link]:
    """The files other than `path` that reading `path` may open (see the module docstring).
    A folder is looked into only if it is an N5 or zarr container, or `within_container`."""
    if os.path.isdir(path):
        container = within_container or path.lower().endswith(_FOLDER_CONTAINERS)
        return _symlinks_inside(path) if container else []
    if not os.path.isfile(path):
        return []
    if h5py.is_hdf5(path):
        return _hdf5_links(path)
    if path.lower().endswith(_TIFF_EXTENSIONS):
        return _ome_tiff_files(path)
    return []


def _candidates(name: str, folder: str, prefix_variable: str) -> list[str]:
    """Where HDF5 may find the file `name` referred to from a file in `folder`."""
    if os.path.isabs(name):
        return [name]
    prefixes = [p.replace("${ORIGIN}", folder) for p in os.environ.get(prefix_variable, "").split(os.pathsep) if p]
    places = [os.path.join(prefix, name) for prefix in prefixes] + [os.path.join(folder, name), os.path.abspath(name)]
    return list(dict.fromkeys(places))


def _existing(names, folder: str, prefix_variable: str, how: str) -> list[Link]:
    found = []
    for name in names:
        for candidate in _candidates(name, folder, prefix_variable):
            # A virtual dataset's source name may number its files (printf-style %b).
            matches = glob.glob(glob.escape(candidate).replace("%b", "*")) if "%b" in candidate else [candidate]
            found += [Link(match, how) for match in matches if os.path.lexists(match)]
    return found


def _hdf5_links(path: str) -> list[Link]:
    stat = os.stat(path)
    folder = os.path.dirname(os.path.abspath(path))
    found: list[Link] = []
    for name, prefix_variable, how in _hdf5_references(os.path.realpath(path), stat.st_mtime_ns, stat.st_size):
        found += _existing([name], folder, prefix_variable, how)
    return found


@functools.lru_cache(maxsize=256)
def _hdf5_references(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str, str], ...]:
    """(file name, HDF5's prefix variable for it, how) of every reference of an HDF5 file to
    another file; cached per version of the file (a project is checked on every request)."""
    found = []

    def visit_link(name, link):
        if isinstance(link, h5py.ExternalLink):
            found.append((link.filename, "HDF5_EXT_PREFIX", f"the external link {name!r}"))

    def visit_object(name: bytes, info):
        if info.type != h5py.h5o.TYPE_DATASET:
            return
        plist = h5py.h5d.open(file.id, name).get_create_plist()
        where = name.decode(errors="replace")
        for index in range(plist.get_external_count()):
            found.append((os.fsdecode(plist.get_external(index)[0]), "HDF5_EXTFILE_PREFIX",
                          f"the external storage of the dataset {where!r}"))
        if plist.get_layout() == h5py.h5d.VIRTUAL:
            for index in range(plist.get_virtual_count()):
                source = plist.get_virtual_filename(index)
                if source != ".":
                    found.append((source, "HDF5_VDS_PREFIX", f"the virtual dataset {where!r}"))

    # Neither walk follows external links: only this file is read.
    with h5py.File(path, "r") as file:
        file.visititems_links(visit_link)
        h5py.h5o.visit(file.id, visit_object, info=True)
    return tuple(dict.fromkeys(found))


def _symlinks_inside(folder: str) -> list[Link]:
    found = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    found.append(Link(os.path.realpath(entry.path), f"the symbolic link {entry.path}", True))
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return found


def _ome_tiff_files(path: str) -> list[Link]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            ome_xml = tiff.ome_metadata  # the first page's description; no other file is opened
    except (OSError, ValueError, tifffile.TiffFileError):
        return []  # reading it fails anyway, with the reader's message
    if not ome_xml:
        return []
    try:
        root = ElementTree.fromstring(ome_xml)
    except ElementTree.ParseError:
        return []
    folder = os.path.dirname(os.path.abspath(path))
    own = os.path.basename(path).lower()
    names = {element.attrib["FileName"] for element in root.iter()
             if re.sub(r"^\{.*\}", "", element.tag) == "UUID" and element.attrib.get("FileName")}
    return [Link(os.path.join(folder, name), "its OME-XML (a multi-file series)")
            for name in sorted(names) if name.lower() != own]
