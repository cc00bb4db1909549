"""Where the bytes of a zarr key come from: a local folder or an HTTP(S) server.

A store maps keys such as 's0/.zarray' or 's0/c/0/3/1' to bytes; `get` returns None for a key
that does not exist, which for a chunk means "all fill value" (zarr's convention; HTTP 404 and
410 mean absent). Anything else that goes wrong is an error, never silently a missing chunk:
the remote store retries network failures and the server-side errors that pass (HTTP 408, 425,
429, 5xx) with exponential backoff, then raises a UserError naming the URL, the cause and the
fix. Remote bytes are kept in a small LRU cache because neighbouring compute blocks and their
halos ask for the same chunks again (ilastik puts an LRUStoreCache in front of its OME-Zarr
store for the same reason, lazyflow/utility/io_util/OMEZarrStore.py).
"""

from __future__ import annotations

import http.client
import json
import os
import posixpath
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict

from pixelserve.errors import UserError

#: (start, stop) of a byte range; start < 0 with stop None means "the last -start bytes".
ByteRange = tuple[int, int | None]

HTTP_TIMEOUT_SECONDS = 30
HTTP_ATTEMPTS = 4
BACKOFF_SECONDS = 0.25  # doubled after every failed attempt: 0.25, 0.5, 1.0
CACHE_BYTES = 64 * 2**20
_ABSENT_STATUSES = (404, 410)
_TRANSIENT_STATUSES = (408, 425, 429, 500, 502, 503, 504)
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


def _slice_range(data: bytes, byte_range: ByteRange | None) -> bytes:
    if byte_range is None:
        return data
    start, stop = byte_range
    return data[start:] if stop is None else data[start:stop]


class LocalStore:
    """Keys are relative file paths below the folder `root`."""

    def __init__(self, root: str):
        self.root = root

    def location(self, key: str = "") -> str:
        return os.path.join(self.root, *key.split("/")) if key else self.root

    def get(self, key: str, byte_range: ByteRange | None = None) -> bytes | None:
        path = self.location(key)
        try:
            with open(path, "rb") as file:
                if byte_range is None:
                    return file.read()
                start, stop = byte_range
                file.seek(start, os.SEEK_END if start < 0 else os.SEEK_SET)
                return file.read() if stop is None else file.read(stop - start)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise UserError(f"Cannot read {path} ({error.strerror or error}); check that the file is readable.") from None


class HttpStore:
    """Keys are URL paths below `root` (an http:// or https:// URL without trailing slash)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self._cache: OrderedDict = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def __getstate__(self):
        return {"root": self.root}  # worker processes start with an empty cache

    def __setstate__(self, state):
        self.__init__(state["root"])

    def location(self, key: str = "") -> str:
        return f"{self.root}/{urllib.parse.quote(key)}" if key else self.root

    def get(self, key: str, byte_range: ByteRange | None = None) -> bytes | None:
        cache_key = (key, byte_range)
        with self._lock:
            if cache_key in self._cache:
                self._cache.move_to_end(cache_key)
                return self._cache[cache_key]
        data = self._fetch(self.location(key), byte_range)
        with self._lock:
            if cache_key not in self._cache:
                self._cache[cache_key] = data
                self._cached_bytes += len(data or b"")
                while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
                    _, dropped = self._cache.popitem(last=False)
                    self._cached_bytes -= len(dropped or b"")
        return data

    def _fetch(self, url: str, byte_range: ByteRange | None) -> bytes | None:
        headers = {"User-Agent": "pixelserve"}
        if byte_range is not None:
            start, stop = byte_range
            last = "" if stop is None else str(stop - 1)
            headers["Range"] = f"bytes={start}" if start < 0 else f"bytes={start}-{last}"  # bytes=-n: the last n
        attempt = 1
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                            timeout=HTTP_TIMEOUT_SECONDS) as response:
                    data = response.read()
                    # A server that ignores Range answers 200 with the whole object.
                    return data if response.status == 206 else _slice_range(data, byte_range)
            except urllib.error.HTTPError as error:
                if error.code in _ABSENT_STATUSES:
                    return None
                if error.code not in _TRANSIENT_STATUSES or attempt == HTTP_ATTEMPTS:
                    raise _http_error(url, error.code, error.reason, attempt) from None
            except _NETWORK_ERRORS as error:
                if attempt == HTTP_ATTEMPTS:
                    raise _network_error(url, error) from None
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            attempt += 1


def _http_error(url: str, status: int, reason, tries: int) -> UserError:
    after = f" (after {tries} tries)" if tries > 1 else ""
    if status in (401, 403):
        fix = ("the data may need credentials, which pixelserve does not send, or the address is wrong: check the "
               "address, or download the data and give the local folder")
    elif status in _TRANSIENT_STATUSES:
        fix = "the server failed or is overloaded: try again later, or download the data and give the local folder"
    else:
        fix = "check the address"
    status_text = f"HTTP {status} {reason}" if reason else f"HTTP {status}"
    return UserError(f"The server answered {status_text}{after} for {url}: {fix}.")


def _network_error(url: str, error: Exception) -> UserError:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    host = urllib.parse.urlsplit(url).netloc
    return UserError(f"Could not fetch {url} from the server {host} ({reason or type(error).__name__}; "
                     f"{HTTP_ATTEMPTS} tries): check the address and the network connection, or try again later.")


def read_json(store, key: str) -> dict | None:
    """The JSON object stored at `key`, None if absent; a UserError if it is not a JSON object."""
    raw = store.get(key)
    if raw is None:
        return None
    try:
        content = json.loads(raw)
    except ValueError as error:
        raise UserError(f"{store.location(key)} is not valid JSON ({error}); the zarr metadata is damaged.") from None
    if not isinstance(content, dict):
        raise UserError(f"{store.location(key)} holds no JSON object; the zarr metadata is damaged.")
    return content


def store_for(location: str):
    """The store of a local folder or an http(s) URL."""
    return HttpStore(location) if is_http_url(location) else LocalStore(location)


def is_http_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def parent_location(location: str) -> str:
    """The folder or URL one level up ('' at the top)."""
    if is_http_url(location):
        parts = urllib.parse.urlsplit(location.rstrip("/"))
        parent = posixpath.dirname(parts.path)
        return "" if parent == parts.path else urllib.parse.urlunsplit(parts._replace(path=parent))
    parent = os.path.dirname(location.rstrip(os.sep))
    return "" if parent == location else parent
