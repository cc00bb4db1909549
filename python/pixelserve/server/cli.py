"""`pixelserve serve`: start the prediction server."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import UserError
from ..protocol import DEFAULT_CHUNK_BYTES


def parser() -> argparse.ArgumentParser:
    # Both spellings of each flag: `pixelserve` turns dashes into underscores, like ilastik.
    p = argparse.ArgumentParser(
        prog="pixelserve serve",
        description="Serve projects over gRPC: warm projects, streamed images, progress and cancel (docs/server.md).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other needs --token-file)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free one, printed at start)")
    p.add_argument("--port-file", "--port_file", help="also write the port into this file once listening")
    p.add_argument("--allowed-root", "--allowed_root", action="append", default=[], metavar="DIR",
                   help="requests may name files only inside this folder (repeatable; default: the working directory)")
    p.add_argument("--allowed-url", "--allowed_url", action="append", default=[], metavar="PREFIX",
                   help="requests may name OME-Zarr images at http(s) addresses under this prefix, e.g. "
                        "https://data.example.org/zarr/ (repeatable; default: none, the server reads no web addresses)")
    p.add_argument("--token-file", "--token_file", help="a file holding the token clients must send (authorization: Bearer TOKEN)")
    p.add_argument("--max-request-bytes", "--max_request_bytes", type=_size, default=8 << 30,
                   help="largest image a request may send or ask for, e.g. 2G or 500M (default 8G)")
    p.add_argument("--max-inflight-bytes", "--max_inflight_bytes", type=_size, default=None, metavar="N",
                   help="memory for the images being received, all requests together, e.g. 16G; a request "
                        "beyond it is refused until others finish (default: half the machine's memory)")
    p.add_argument("--max-streams", "--max_streams", type=int, default=32, metavar="N",
                   help="streaming requests (predictions, training, dataset reads and writes) open at once; "
                        "more are refused, while health checks and small requests are always served (default 32)")
    p.add_argument("--idle-timeout", "--idle_timeout", type=float, default=60.0, metavar="SECONDS",
                   help="end a stream whose client sends nothing, or takes no answer, this long (default 60)")
    p.add_argument("--workers", type=int, default=2, help="requests computed at once (default 2); more wait in line")
    p.add_argument("--threads", type=int, default=0,
                   help="threads computing blocks, shared by all requests (default: all cores, or LAZYFLOW_THREADS)")
    p.add_argument("--debug", action="store_true", help="log details")
    return p


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write e.g. 2G, 500M or 1048576") from None


def _read_token(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            token = file.read().strip()
    except OSError as error:
        raise UserError(f"Cannot read the token file {path}: {error.strerror}. Fix: give an existing file") from None
    if len(token) < 16:
        raise UserError(f"The token in {path} has {len(token)} characters: use at least 16 random ones, "
                        "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))' > token.txt")
    return token


def _write_port_file(path: str, port: int) -> None:
    temp = f"{path}.{os.getpid()}.part"
    with open(temp, "w", encoding="utf-8") as file:
        file.write(f"{port}\n")
    os.replace(temp, path)  # a reader never sees an empty file


def main(argv: list[str]) -> int:
    options = parser().parse_args(argv)
    logging.getLogger("pixelserve").setLevel(logging.DEBUG if options.debug else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logging.getLogger("pixelserve.server").addHandler(handler)
    logging.getLogger("pixelserve.server").propagate = False
    for flag, value, least in (("--workers", options.workers, 1), ("--max-streams", options.max_streams, 1),
                               ("--idle-timeout", options.idle_timeout, 0.1)):
        if value < least:
            raise UserError(f"{flag} {value}: give at least {least}")

    from .app import Limits, Server, ServerConfig
    from .limits import half_the_memory

    config = ServerConfig(
        allowed_roots=tuple(options.allowed_root or [os.getcwd()]),
        allowed_urls=tuple(options.allowed_url),
        host=options.host, port=options.port,
        token=_read_token(options.token_file) if options.token_file else None,
        limits=Limits(max_chunk_bytes=DEFAULT_CHUNK_BYTES, max_request_bytes=options.max_request_bytes,
                      max_streams=options.max_streams, idle_timeout=options.idle_timeout,
                      max_inflight_bytes=options.max_inflight_bytes or half_the_memory()),
        workers=options.workers, threads=options.threads,
    )
    server = Server(config)
    stop = server.stop_signals()
    port = server.start()
    if options.port_file:
        _write_port_file(options.port_file, port)
    urls = f"; allowed web addresses: {', '.join(options.allowed_url)}" if options.allowed_url else ""
    print(f"pixelserve server listening on {options.host}:{port} (allowed roots: {', '.join(server.paths.roots)}"
          f"{urls})", flush=True)
    server.wait_for_signal(stop)
    print("pixelserve server stopped", flush=True)
    return 0
