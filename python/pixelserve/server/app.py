"""The prediction server: its state, the gRPC server around the servicers, start and stop."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .. import protocol
from ..blocks import Cancelled, default_threads
from ..errors import ProjectError, UserError
from ..io import input_files, open_dataset, split_internal_path
from ..io.chunk_stores import is_http_url
from ..io.ome_zarr import file_uri_to_path
from ..io.paths import has_glob, split_path_list
from ..protocol import RequestTooLarge
from .jobs import JobRunner
from .limits import UNARY_THREADS, IdleStream, InflightMemory, Limits, Streams, checked, lenient
from .projects import ProjectCache
from .security import PathDenied, PathPolicy, TokenInterceptor, UrlPolicy, is_loopback

logger = logging.getLogger("pixelserve.server")


class NotFound(UserError):
    """A file or dataset that does not exist (NOT_FOUND)."""


@dataclass(frozen=True)
class ServerConfig:
    allowed_roots: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    limits: Limits = Limits()
    workers: int = 2  # jobs computed at once; more wait in line
    threads: int = 0  # block threads shared by all jobs; 0: all cores (LAZYFLOW_THREADS)
    project_cache_bytes: int = 2 << 30
    grace_seconds: float = 3.0  # on stop: running calls may finish this long, then are cancelled
    allowed_urls: tuple[str, ...] = ()  # http(s) address prefixes requests may read (OME-Zarr); none by default


class Server:
    """What the servicers share: settings, the path policy, warm projects and the job runner."""

    def __init__(self, config: ServerConfig):
        if not is_loopback(config.host) and not config.token:
            raise UserError(f"Listening on {config.host} (beyond this machine) requires a token: "
                            "add --token-file FILE (the file holds the token clients must send)")
        self.config = config
        self.limits = config.limits
        self.paths = PathPolicy(config.allowed_roots)
        self.urls = UrlPolicy(config.allowed_urls)
        self.projects = ProjectCache(config.project_cache_bytes,
                                     check_stored_file=lambda path: self.resolve_file(path, "file the project names"))
        self.jobs = JobRunner(config.workers, config.threads or default_threads())
        self.streams = Streams(config.limits)
        self.inflight = InflightMemory(config.limits.max_inflight_bytes)
        self._grpc: grpc.Server | None = None
        self.port: int | None = None
        protocol.keep_freed_memory()
        self._health = health.HealthServicer()

    # -- for the servicers ---------------------------------------------------------------------
    def resolve_file(self, path: str, what: str) -> str:
        """The real path of a request's file (or glob), inside the roots; NotFound if missing.
        Every file it names (a glob's matches, which may be symlinks that lead out) and every
        file those make a reader open is checked before anything opens them."""
        real = self.paths.resolve(path, what)
        external, _ = split_internal_path(real)
        if not os.path.exists(external) and not has_glob(external):
            raise NotFound(f"The {what} {path!r} does not exist on the server ({external}): check the path")
        for file in input_files(real):
            self.paths.check_file(file, path, what)
        return real

    def load_project(self, path: str):
        real = self.resolve_file(path, "project")
        if not os.path.exists(real):  # a glob, or a path inside the project file
            raise NotFound(f"The project {path!r} is no file on the server ({real}): give the path of an .ilp file")
        return self.projects.get(real)

    def open_dataset(self, path: str, axes: str | None = None, stack_along: str = "z"):
        members = split_path_list(path)  # keeps http://host:port/... whole
        resolved = os.pathsep.join(self._resolve_dataset_member(member) for member in members)
        dataset = open_dataset(resolved, axes=axes, stack_along=stack_along or "z")
        # Every file was checked before opening (resolve_file); an OME-Zarr image search may have
        # climbed up to the image's folder, which must lie inside too.
        for member in dataset.paths:
            if is_http_url(member):
                self.urls.check(member)
            else:
                self.paths.check_inside(member, path, "dataset path")
        return dataset

    def _resolve_dataset_member(self, member: str) -> str:
        """A file path inside the roots, or an admitted web address; a file:// URI is a file path."""
        if member.lower().startswith("file://"):
            return self.resolve_file(file_uri_to_path(member), "dataset path")
        if is_http_url(member):
            self.urls.check(member)
            return member
        return self.resolve_file(member, "dataset path")

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> int:
        from .batch import BatchServicer
        from .datasets import DatasetServicer
        from .info import ProjectServicer, ServerServicer
        from .prediction import PredictionServicer
        from .training import TrainingServicer

        message_limit = self.limits.max_chunk_bytes + (1 << 20)  # a chunk plus its envelope
        interceptors = [CallInterceptor(self.streams)]
        if self.config.token:
            interceptors.insert(0, TokenInterceptor(self.config.token))
        self._grpc = grpc.server(
            ThreadPoolExecutor(max_workers=self.limits.max_streams + UNARY_THREADS, thread_name_prefix="pixelserve-grpc"),
            interceptors=interceptors,
            options=[("grpc.max_receive_message_length", message_limit),
                     ("grpc.max_send_message_length", message_limit),
                     ("grpc.so_reuseport", 0)],
        )
        protocol.prediction_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(self), self._grpc)
        protocol.projects_grpc.add_ProjectServiceServicer_to_server(ProjectServicer(self), self._grpc)
        protocol.datasets_grpc.add_DatasetServiceServicer_to_server(DatasetServicer(self), self._grpc)
        protocol.server_grpc.add_ServerServiceServicer_to_server(ServerServicer(self), self._grpc)
        protocol.training_grpc.add_TrainingServiceServicer_to_server(TrainingServicer(self), self._grpc)
        protocol.batch_grpc.add_BatchServiceServicer_to_server(BatchServicer(self), self._grpc)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._grpc)
        services = [
            protocol.prediction.DESCRIPTOR.services_by_name["PredictionService"].full_name,
            protocol.projects.DESCRIPTOR.services_by_name["ProjectService"].full_name,
            protocol.datasets.DESCRIPTOR.services_by_name["DatasetService"].full_name,
            protocol.server.DESCRIPTOR.services_by_name["ServerService"].full_name,
            protocol.training.DESCRIPTOR.services_by_name["TrainingService"].full_name,
            protocol.batch.DESCRIPTOR.services_by_name["BatchService"].full_name,
        ]
        reflection.enable_server_reflection([*services, health.SERVICE_NAME, reflection.SERVICE_NAME], self._grpc)
        address = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        self.port = self._grpc.add_insecure_port(f"{address}:{self.config.port}")
        if not self.port:
            raise UserError(f"Could not listen on {self.config.host}:{self.config.port} (in use?): choose another --port, or 0 for a free one")
        self._grpc.start()
        for name in ("", *services):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    def stop(self) -> None:
        """Refuse new calls, let running ones finish for the grace period, then cancel them."""
        if self._grpc is None:
            return
        self._health.enter_graceful_shutdown()
        stopped = self._grpc.stop(self.config.grace_seconds)
        timer = threading.Timer(self.config.grace_seconds, self.jobs.cancel_all)
        timer.start()
        stopped.wait()
        # The calls have ended for gRPC; their handlers finish their jobs (cancelled by now)
        # and clean up (e.g. an unfinished training's files) before the process may exit.
        self.streams.wait_until_closed(self.config.grace_seconds + 10)
        timer.cancel()
        self.jobs.shutdown()
        self.streams.stop()
        self._grpc = None

    @staticmethod
    def stop_signals() -> threading.Event:
        """An event that SIGTERM and SIGINT set from now on: take them before announcing the
        server, so that a stop asked for right after the announcement is a clean stop."""
        done = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: done.set())
        return done

    def wait_for_signal(self, done: threading.Event) -> None:
        """Serve until `done` (stop_signals) is set, then stop cleanly."""
        while not done.wait(0.5):
            pass
        logger.info("Stopping: %d job(s) running", self.jobs.running())
        self.stop()


# Exceptions to statuses; the first matching class wins.
_STATUSES = (
    (Cancelled, grpc.StatusCode.CANCELLED),
    (PathDenied, grpc.StatusCode.PERMISSION_DENIED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (IdleStream, grpc.StatusCode.DEADLINE_EXCEEDED),
    (RequestTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ProjectError, grpc.StatusCode.FAILED_PRECONDITION),
    (UserError, grpc.StatusCode.INVALID_ARGUMENT),
)


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    for kind, code in _STATUSES:
        if isinstance(error, kind):
            return code, str(error) or "cancelled"
    return grpc.StatusCode.INTERNAL, (f"internal error: {type(error).__name__}: {error} "
                                      "(a bug in pixelserve; the server log has the details)")


class CallInterceptor(grpc.ServerInterceptor):
    """Maps exceptions to gRPC statuses with their message, logs one line per call, refuses
    undecodable requests with a sentence, and puts streaming calls under `streams`' limits."""

    def __init__(self, streams: Streams):
        self.streams = streams

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or details.method.startswith("/grpc."):
            return handler
        method = details.method.rsplit("/", 1)[-1]
        streaming = handler.request_streaming or handler.response_streaming
        call = _Call(method, self.streams if streaming else None, handler.request_streaming)
        if handler.response_streaming:
            behavior = handler.stream_stream or handler.unary_stream
            wrapped = call.streaming(behavior)
            make = grpc.stream_stream_rpc_method_handler if handler.request_streaming else grpc.unary_stream_rpc_method_handler
        else:
            behavior = handler.stream_unary or handler.unary_unary
            wrapped = call.unary(behavior)
            make = grpc.stream_unary_rpc_method_handler if handler.request_streaming else grpc.unary_unary_rpc_method_handler
        return make(wrapped, request_deserializer=lenient(handler.request_deserializer, f"{method} request"),
                    response_serializer=handler.response_serializer)


class _Call:
    """How one method's calls run: `streams` (None for unary calls) bounds and paces them."""

    def __init__(self, method: str, streams: Streams | None, request_streaming: bool):
        self.method = method
        self.streams = streams
        self.request_streaming = request_streaming

    def unary(self, behavior):
        def call(request, context):
            started = time.monotonic()
            try:
                with self._admitted(request) as request:
                    response = behavior(request, context)
            except Exception as error:
                self._fail(context, started, error)
            self._log(context, started, "OK")
            return response
        return call

    def streaming(self, behavior):
        def call(request, context):
            started = time.monotonic()
            try:
                with self._admitted(request) as request:
                    yield from self.streams.responses(behavior(request, context), context)
            except GeneratorExit:  # gRPC asks for no more: the client went away
                self._log(context, started, "CANCELLED")
                raise
            except Exception as error:
                if not context.is_active():  # the client went away: nobody to tell
                    traceback.clear_frames(error.__traceback__)  # see _fail
                    self._log(context, started, "CANCELLED")
                    return
                self._fail(context, started, error)
            self._log(context, started, "OK" if context.is_active() else "CANCELLED")
        return call

    @contextlib.contextmanager
    def _admitted(self, request):
        """The request (checked), or the paced request stream, within the stream limit."""
        if self.streams is None:
            yield checked(request)
            return
        if not self.request_streaming:
            request = checked(request)
        self.streams.enter()
        paced = self.streams.paced(request) if self.request_streaming else None
        try:
            yield request if paced is None else paced
        finally:
            if paced is not None:
                paced.close()
            self.streams.leave()

    def _fail(self, context, started: float, error: BaseException):
        if context.code() is not None:  # already aborted by the servicer
            raise error
        code, message = status_of(error)
        if code is grpc.StatusCode.INTERNAL:
            logger.exception("%s %s: internal error", context.peer(), self.method)
        # The traceback's frames hold the request's arrays (and reference cycles through
        # them): clear them, so that the memory goes now, not at some garbage collection.
        traceback.clear_frames(error.__traceback__)
        self._log(context, started, code.name)
        context.abort(code, message)

    def _log(self, context, started: float, outcome: str) -> None:
        logger.info("%s %s %s %.3fs", context.peer(), self.method, outcome, time.monotonic() - started)
