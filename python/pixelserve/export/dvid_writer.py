"""DVID output (`--output_format dvid`): the result is sent to a DVID server's voxel data
instance over its HTTP API, with the standard library only.

Facts from ilastik (`lazyflow/operators/ioOperators/opExportSlot.py`, `opExportDvidVolume.py`)
and libdvid-cpp (`python/libdvid/voxels/`, `src/DVIDNodeService.cpp`), read for behaviour:

- --output_filename_format is the data instance's URL, exactly
  `http://<host>[:<port>]/api/node/<uuid>/<data name>` (ilastik splits it on "/" into those
  five parts, so no trailing slash and no path prefix). Placeholders such as {nickname} are
  filled as in a file name; no extension is added.
- One channel only; 1-channel uint8 becomes a `uint8blk` ("grayscale8") instance and
  1-channel uint64 a `labelblk` ("labels64") instance, created when the URL names no instance
  yet. ilastik transposes its C-order result (…zyxc) to DVID's Fortran order, so DVID's X, Y and
  Z are the result's x, y and z, and the result's first voxel goes to DVID's (0, 0, 0) (ilastik
  sets no offset, also not for a subregion).
- Voxels go in as `POST /api/node/<uuid>/<name>/raw/0_1_2/<sx>_<sy>_<sz>/<ox>_<oy>_<oz>`, the
  body little-endian in ZYX order (x fastest); DVID refuses offsets and sizes that are not
  multiples of the instance's block size (32 by default). New instances are made with
  `POST /api/repo/<uuid>/instance` and {"typename": ..., "dataname": ...}.

Where pixelserve differs: ilastik's libdvid path only ever writes uint8 and uint64 (and
creates a uint64 instance under the fixed name "test_labels_3d", a libdvid bug); DVID itself
also holds uint16, uint32 and float32 voxels (`uint16blk`, `uint32blk`, `float32blk`), so
those are written too. Any axis order is accepted: the writer places voxels by axis key.

Blocks arrive in any order and any shape, but DVID only takes whole blocks, and a server has no
temporary file to rename. So this writer spools the result into a local temporary file
(`tempfile`, the size of the result) and uploads it in `finish`, once every block is computed,
as block-aligned slabs padded with 0 (DVID's background) up to whole blocks. "No partial
output" therefore means: an export that fails or is interrupted while computing sends nothing
and creates no data instance; the server and URL are checked (reachable, node known, an
existing instance of a fitting type) before anything is computed. Only a failure during the
upload itself (server or network) can leave part of the volume written; DVID 1.0 cannot delete
a data instance over HTTP, and DVID versions data per node, not per request, so the message
says so and running the export again overwrites it. A locked (committed) node is refused
before anything is computed.
"""

from __future__ import annotations

import json
import re
import tempfile
import urllib.error
import urllib.request
from typing import ClassVar

import numpy as np

from pixelserve.errors import UserError

from .writer_base import FormatMismatch, FormatWriter, describe_shape

#: numpy dtype -> the DVID data type a new instance gets.
DVID_TYPES = {
    np.dtype(np.uint8): "uint8blk",
    np.dtype(np.uint16): "uint16blk",
    np.dtype(np.uint32): "uint32blk",
    np.dtype(np.uint64): "labelblk",  # ilastik/libdvid: uint64 results are label volumes
    np.dtype(np.float32): "float32blk",
}
#: DVID data types that store each dtype (an existing instance may be either).
_ACCEPTED = {dtype: {name} for dtype, name in DVID_TYPES.items()}
_ACCEPTED[np.dtype(np.uint64)] = {"labelblk", "uint64blk"}

URL_FORM = "http://<host>:<port>/api/node/<uuid>/<data name>"
_URL = re.compile(r"^(https?://[^/\s]+)/api/node/([^/\s]+)/([^/\s]+)$")
_TIMEOUT = 300  # seconds for one request
_POST_BYTES = 64 << 20  # about this much per upload request


def parse_dvid_url(url: str) -> tuple[str, str, str]:
    """(server, uuid, data name) of a DVID data instance URL, or a UserError."""
    match = _URL.match(url)
    if not match:
        raise UserError(f"--output_format dvid needs --output_filename_format to be a DVID data instance URL, "
                        f"{URL_FORM} (e.g. http://localhost:8000/api/node/3f8c/{{nickname}}), not {url!r}")
    return match.group(1), match.group(2), match.group(3)


class DvidWriter(FormatWriter):
    name = "dvid"
    extension = ""
    remote: ClassVar[bool] = True  # the output name is a URL: no folders, temp file or rename

    @classmethod
    def check(cls, shape, axes, dtype):
        dtype = np.dtype(dtype)
        extents = dict(zip(axes, shape))
        if extents.get("c", 1) > 1:
            raise FormatMismatch(
                f"A DVID data instance holds one channel, but the result has {extents['c']}",
                "export one channel at a time (--cutout_subregion with a c range of one channel), "
                "each to its own data name")
        if extents.get("t", 1) > 1:
            raise FormatMismatch(
                f"A DVID data instance holds one 3D volume, but the result has {extents['t']} time points "
                f"({describe_shape(shape, axes)})",
                "export one time point at a time (--cutout_subregion with a t range of one), each to its own data name")
        if dtype not in DVID_TYPES:
            names = ", ".join(str(d) for d in DVID_TYPES)
            raise FormatMismatch(f"DVID stores {names} voxels, not {dtype}",
                                 "add --export_dtype uint8 (grayscale), uint64 (labels), or another of " + names)

    def __init__(self, temp_path, final_path, shape, axes, dtype, metadata):
        super().__init__(temp_path, final_path, shape, axes, dtype, metadata)
        self._spool = None
        self.server, self.uuid, self.data_name = parse_dvid_url(final_path)
        extents = dict(zip(axes, self.shape))
        self._volume = tuple(int(extents.get(a, 1)) for a in "zyx")
        # Before anything is computed: the server answers, and an existing instance fits.
        self._instance_info = self._info()
        if self._instance_info is not None:
            typename = self._instance_info.get("Base", {}).get("TypeName", "")
            if typename not in _ACCEPTED[self.dtype]:
                raise UserError(
                    f"The DVID data instance {self.data_name!r} at node {self.uuid} is a {typename or 'unknown'} "
                    f"instance, which cannot hold this {self.dtype} result (a new one would be "
                    f"{DVID_TYPES[self.dtype]}): choose another data name in --output_filename_format, or an "
                    f"--export_dtype that fits {typename}")
        self._check_node()
        self._spool = tempfile.TemporaryFile(prefix="pixelserve-dvid-")
        self._array = np.memmap(self._spool, dtype=self.dtype, mode="w+", shape=self._volume)

    # --- HTTP ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: bytes | None = None, *, doing: str,
                 missing_ok: bool = False) -> bytes | None:
        request = urllib.request.Request(self.server + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/octet-stream")
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            message = error.read().decode("utf-8", "replace").strip()
            if missing_ok and error.code in (400, 404):
                return None
            raise UserError(f"The DVID server at {self.server} refused to {doing} (HTTP {error.code}: "
                            f"{message or error.reason}): check the node uuid and data name in "
                            f"--output_filename_format ({URL_FORM}) and that the node is not locked") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise UserError(f"Could not reach the DVID server at {self.server} to {doing} ({reason}): "
                            "start the server or fix the host and port in --output_filename_format") from None

    def _info(self) -> dict | None:
        """The instance's /info, or None when DVID answers 400 (its answer for an unknown data
        name, and also for an unknown node, which _check_node then tells apart)."""
        body = self._request("GET", f"/api/node/{self.uuid}/{self.data_name}/info",
                             doing=f"describe the data instance {self.data_name!r}", missing_ok=True)
        return None if body is None else json.loads(body)

    def _check_node(self) -> None:
        """The node exists (else DVID's message) and is not locked (committed), where a uuid
        prefix names it (a "uuid:branch" leaf is left to DVID)."""
        repo = json.loads(self._request("GET", f"/api/repo/{self.uuid}/info", doing=f"find the node {self.uuid}"))
        nodes = (repo.get("DAG") or {}).get("Nodes") or {} if isinstance(repo, dict) else {}
        matches = [n for n in nodes.values() if str(n.get("UUID", "")).startswith(self.uuid)]
        if len(matches) == 1 and matches[0].get("Locked"):
            raise UserError(f"The DVID node {self.uuid} is locked (committed), so it takes no new voxels: "
                            "export to an open (uncommitted) node, e.g. a new child version of it")

    def _create(self) -> dict:
        self._request("POST", f"/api/repo/{self.uuid}/instance",
                      json.dumps({"typename": DVID_TYPES[self.dtype], "dataname": self.data_name}).encode(),
                      doing=f"create the data instance {self.data_name!r}")
        info = self._info()
        if info is None:
            raise UserError(f"The DVID server at {self.server} did not create the data instance {self.data_name!r}")
        return info

    def _post(self, start_zyx, data_zyx: np.ndarray) -> None:
        size = "_".join(str(n) for n in reversed(data_zyx.shape))
        offset = "_".join(str(int(n)) for n in reversed(start_zyx))
        body = np.ascontiguousarray(data_zyx, dtype=self.dtype.newbyteorder("<")).tobytes()
        self._request("POST", f"/api/node/{self.uuid}/{self.data_name}/raw/0_1_2/{size}/{offset}", body,
                      doing=f"store voxels in {self.data_name!r} (the instance may now hold part of this "
                            "result; export again to overwrite it)")

    # --- writing ------------------------------------------------------------------------

    def _as_zyx(self, start, block) -> tuple[tuple[int, int, int], np.ndarray]:
        """`block` (output axes) as a 3D z, y, x array, and its z, y, x start."""
        others = tuple(i for i, a in enumerate(self.axes) if a not in "zyx")  # singleton t and c
        data = np.squeeze(block, axis=others) if others else block
        present = [a for a in self.axes if a in "zyx"]
        data = data.transpose(sorted(range(len(present)), key=lambda i: "zyx".index(present[i])))
        for i, a in enumerate("zyx"):
            if a not in present:
                data = np.expand_dims(data, i)
        begin = tuple(int(start[self.axes.index(a)]) if a in self.axes else 0 for a in "zyx")
        return begin, data

    def write(self, start, block):
        begin, data = self._as_zyx(start, block)
        self._array[tuple(slice(b, b + n) for b, n in zip(begin, data.shape))] = data

    def finish(self):
        info = self._instance_info or self._create()
        block = tuple(int(n) for n in reversed(info.get("Extended", {}).get("BlockSize") or [32, 32, 32]))
        padded = tuple(-(-n // b) * b for n, b in zip(self._volume, block))
        # Uploads of whole blocks: one block layer in z, as many rows (then columns) as fit.
        row_bytes = block[0] * padded[2] * self.dtype.itemsize
        rows = max(1, _POST_BYTES // max(1, row_bytes * block[1])) * block[1]
        columns = padded[2] if row_bytes * block[1] <= _POST_BYTES else \
            max(1, _POST_BYTES // (block[0] * block[1] * block[2] * self.dtype.itemsize)) * block[2]
        chunk = (block[0], min(rows, padded[1]), min(columns, padded[2]))
        for z in range(0, padded[0], chunk[0]):
            for y in range(0, padded[1], chunk[1]):
                for x in range(0, padded[2], chunk[2]):
                    origin = (z, y, x)
                    shape = tuple(min(c, p - o) for c, p, o in zip(chunk, padded, origin))
                    data = np.zeros(shape, dtype=self.dtype)
                    stop = tuple(min(o + s, n) for o, s, n in zip(origin, shape, self._volume))
                    data[tuple(slice(0, e - o) for o, e in zip(origin, stop))] = \
                        self._array[tuple(slice(o, e) for o, e in zip(origin, stop))]
                    self._post(origin, data)
        self._close()

    def abort(self):
        self._close()

    def _close(self):
        self._array = None
        if self._spool is not None:
            self._spool.close()  # a TemporaryFile is gone once closed
            self._spool = None
