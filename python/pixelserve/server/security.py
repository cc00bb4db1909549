"""What a request may touch: paths inside the allowed roots, and a token when the server
listens beyond loopback."""

from __future__ import annotations

import hmac
import ipaddress
import os
import urllib.parse

import grpc

from ..errors import UserError
from ..io import split_internal_path
from ..io.linked_files import Link, linked_files


class PathDenied(UserError):
    """A path outside the allowed roots (PERMISSION_DENIED)."""


class PathPolicy:
    """Resolves request paths: relative ones against the first allowed root; every path,
    after following symlinks and '..', must lie inside one of the roots."""

    def __init__(self, roots):
        self.roots = [os.path.realpath(os.path.expanduser(str(root))) for root in roots]
        if not self.roots:
            raise UserError("No allowed root: give pixelserve serve --allowed-root DIR (repeatable)")

    def resolve(self, path: str, what: str = "path") -> str:
        """The real path of the file part of `path` with any internal dataset path re-attached."""
        if not path:
            raise UserError(f"The request names no {what}: give a file path")
        if "\x00" in path:
            raise UserError(f"The {what} contains a NUL character")
        external, internal = split_internal_path(os.path.expanduser(path))
        if internal and ".." in internal.split("/"):
            # N5 and zarr datasets are folders: '..' inside them is a file system path
            raise PathDenied(f"The {what} {path!r} has '..' in its internal dataset path: name the dataset directly")
        joined = external if os.path.isabs(external) else os.path.join(self.roots[0], external)
        real = os.path.realpath(joined)
        self.check_inside(real, path, what)
        return real + (f"/{internal}" if internal else "")

    def check_inside(self, real: str, path: str, what: str) -> None:
        """Refuse a path outside every root (after following its symlinks)."""
        real = os.path.realpath(real)
        if not self._inside(real):
            raise PathDenied(f"The {what} {path!r} resolves to {real}, outside the server's allowed roots ({self._listed()}): "
                             "use a file inside them, or start the server with --allowed-root for its folder")

    def check_file(self, real: str, path: str, what: str) -> None:
        """Refuse a file outside the roots, or one that makes its reader open a file outside
        them: HDF5 external links, external storage and virtual datasets, symbolic links in
        N5 and zarr folders, the other files of an OME-TIFF series (io.linked_files), followed
        from file to file. Nothing outside the roots is opened to find out."""
        self.check_inside(real, path, what)
        pending, seen = [Link(os.path.realpath(real), "")], set()
        while pending:
            current = pending.pop()
            try:
                links = linked_files(current.target, within_container=current.within_container)
            except (OSError, RuntimeError, KeyError, ValueError) as error:
                raise UserError(f"The {what} {path!r} cannot be checked: {current.target} is damaged ({error}). "
                                "Fix: copy or export the file again") from None
            for link in links:
                target = os.path.realpath(link.target)
                if not self._inside(target):
                    raise PathDenied(f"The {what} {path!r} reads {target} through {link.how} in {current.target}, "
                                     f"outside the server's allowed roots ({self._listed()}): copy that data into "
                                     "the file, or start the server with --allowed-root for its folder")
                if (target, link.within_container) not in seen:
                    seen.add((target, link.within_container))
                    pending.append(Link(target, link.how, link.within_container))

    def _inside(self, real: str) -> bool:
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots)

    def _listed(self) -> str:
        return ", ".join(self.roots)


class UrlPolicy:
    """Which web addresses requests may make the server read (OME-Zarr over http/https).

    None by default: a server that fetches any address a client names lets clients reach
    whatever the server's network reaches (internal services, cloud metadata endpoints).
    `pixelserve serve --allowed-url PREFIX` admits addresses under PREFIX: same scheme, host
    and port, and a path below PREFIX's path, with no '..' and no user name or password."""

    def __init__(self, prefixes=()):
        self.prefixes = [self._parts(prefix, "--allowed-url", str(prefix)) for prefix in prefixes]

    @staticmethod
    def _parts(url: str, what: str, shown: str) -> tuple[str, str, tuple[str, ...]]:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise UserError(f"The {what} {shown!r} is not an http:// or https:// address: give one such as "
                            "https://example.org/data/")
        if parts.username is not None or parts.password is not None:
            raise PathDenied(f"The {what} {shown!r} holds a user name or password, which pixelserve never sends: "
                             "give the address without them")
        segments = tuple(urllib.parse.unquote(part) for part in parts.path.split("/") if part)
        if ".." in segments or any("/" in part or "\\" in part for part in segments):
            raise PathDenied(f"The {what} {shown!r} has '..' or an encoded slash in its path: name the data directly")
        host = parts.hostname.lower() + (f":{parts.port}" if parts.port is not None else "")
        return parts.scheme.lower(), host, segments

    def check(self, url: str, what: str = "dataset address") -> None:
        """Refuse `url` unless it lies under an allowed prefix."""
        if not self.prefixes:
            raise PathDenied(f"The {what} {url!r} is a web address, and this server reads none: start it with "
                             "--allowed-url PREFIX to admit addresses under PREFIX, or copy the data into an "
                             "allowed root")
        scheme, host, segments = self._parts(url, what, url)
        if not any(scheme == allowed[0] and host == allowed[1] and segments[:len(allowed[2])] == allowed[2]
                   for allowed in self.prefixes):
            shown = ", ".join(urllib.parse.urlunsplit((s, h, "/" + "/".join(p), "", "")) for s, h, p in self.prefixes)
            raise PathDenied(f"The {what} {url!r} is outside the addresses this server may read ({shown}): use one "
                             "under them, or start the server with --allowed-url for it")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class TokenInterceptor(grpc.ServerInterceptor):
    """Refuses calls without `authorization: Bearer <token>` (health checks excepted, so that
    orchestrators can probe the server)."""

    OPEN_METHODS = ("/grpc.health.v1.Health/",)

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "Missing or wrong token: send the metadata 'authorization: Bearer <token>' "
                          "with the token from the server's --token-file")

        self._deny = deny

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(self.OPEN_METHODS):
            return continuation(handler_call_details)
        given = dict(handler_call_details.invocation_metadata).get("authorization", "")
        if hmac.compare_digest(given.encode(), self._expected):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return _denying_like(handler, self._deny)


def _denying_like(handler, deny):
    """A handler of the same streaming kind as `handler` that calls `deny` (which aborts)."""
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(lambda requests, context: deny(None, context))
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(lambda requests, context: deny(None, context))
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(lambda request, context: deny(request, context))
    return grpc.unary_unary_rpc_method_handler(deny)
