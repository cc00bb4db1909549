"""What clients may take of the server: streams open at once, how long a stream may wait for
its client, and the memory of the arrays being received.

A streaming call (Predict, Train, ReadDataset, WriteDataset, the probes) holds one of the
gRPC threads for as long as it lasts, so without a bound a few dozen idle clients would leave
no thread for the health check or GetServerInfo. Streams are therefore counted: beyond
`max_streams` a new one is refused at once (RESOURCE_EXHAUSTED), while the thread pool has
room for that many plus the unary calls. A stream whose client sends nothing, or takes no
response, for `idle_timeout` seconds is ended. The arrays of all calls being received may
announce at most `max_inflight_bytes` together; a header beyond that is refused
(RESOURCE_EXHAUSTED), and each array's memory goes back to the system when its call ends.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field

from ..errors import UserError
from ..protocol import DEFAULT_CHUNK_BYTES, ArrayReceiver, ProtocolError, RequestTooLarge
from ..protocol.buffers import byte_count, return_freed_memory

logger = logging.getLogger("pixelserve.server")

# Threads beyond the streams: unary calls (health, GetServerInfo, ...) always find one.
UNARY_THREADS = 16


def half_the_memory() -> int:
    """Half the machine's physical memory (8 GiB where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, ValueError, OSError):
        return 8 << 30


@dataclass(frozen=True)
class Limits:
    max_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    max_request_bytes: int = 8 << 30
    max_streams: int = 32          # streaming calls open at once
    idle_timeout: float = 60.0     # seconds a stream may wait for its client
    max_inflight_bytes: int = field(default_factory=half_the_memory)  # arrays being received, all calls


class IdleStream(UserError):
    """The client sent nothing for too long (DEADLINE_EXCEEDED)."""


class ServerBusy(RequestTooLarge):
    """Too many streams, or too many bytes in flight (RESOURCE_EXHAUSTED)."""


class Undecodable:
    """A request whose bytes are not the method's message: refused by the handler with a
    sentence (gRPC would answer INTERNAL "Exception deserializing request!")."""

    def __init__(self, error: Exception, message_type: str):
        self.error = error
        self.message_type = message_type

    def refuse(self):
        raise ProtocolError(f"A request message is not a valid {self.message_type} ({self.error}): send the "
                            "method's request message (python/pixelserve/protocol/v1/*.proto)")


def lenient(deserializer, message_type: str):
    """`deserializer` returning an Undecodable instead of raising."""
    def deserialize(data: bytes):
        try:
            return deserializer(data)
        except Exception as error:  # protobuf's DecodeError, or anything a bad buffer causes
            return Undecodable(error, message_type)
    return deserialize


def checked(request):
    """`request`, unless it could not be decoded (ProtocolError)."""
    if isinstance(request, Undecodable):
        request.refuse()
    return request


class PacedRequests:
    """A call's request messages, each awaited at most `timeout` seconds (IdleStream).

    gRPC's request iterator waits without limit, so a thread of its own reads it into a
    queue of one; the call's thread waits on the queue. When the call ends (its thread gave
    up, or the client left), gRPC's iterator ends too, and so does the reading thread.
    """

    def __init__(self, requests, timeout: float):
        self._requests = requests
        self._timeout = timeout
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="pixelserve-requests", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for message in self._requests:
                if not self._put(("message", message)):
                    return
            self._put(("end", None))
        except Exception as error:  # the call was cancelled: gRPC's RpcError
            self._put(("error", error))

    def _put(self, item) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        return self

    def __next__(self):
        try:
            kind, value = self._queue.get(timeout=self._timeout)
        except queue.Empty:
            raise IdleStream(f"No message arrived for {self._timeout:g} s: the server ends streams whose client "
                             "pauses that long (pixelserve serve --idle-timeout). Send the messages without "
                             "pausing, and end the request stream after the last one") from None
        if kind == "message":
            return checked(value)
        if kind == "end":
            self._put(("end", None))  # a further next() ends again
            raise StopIteration
        raise value

    def close(self) -> None:
        self._closed.set()


class Streams:
    """Counts the streaming calls, refuses those beyond the limit, and ends those whose client
    has taken no response for `idle_timeout` seconds (gRPC waits for it without limit)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._open = 0
        self._sending: dict[object, float] = {}  # context -> when its response was handed to gRPC
        self._changed = threading.Condition()
        self._watch: threading.Thread | None = None
        self._stopping = threading.Event()

    def enter(self) -> None:
        with self._changed:
            if self._open >= self.limits.max_streams:
                raise ServerBusy(f"The server has {self._open} streams open, its limit (pixelserve serve --max-streams "
                                 f"{self.limits.max_streams}): try again in a moment")
            self._open += 1
            if self._watch is None:
                self._watch = threading.Thread(target=self._watch_sending, name="pixelserve-idle", daemon=True)
                self._watch.start()

    def leave(self) -> None:
        with self._changed:
            self._open -= 1
            idle = self._open == 0
            self._changed.notify_all()
        if idle:  # the chunk buffers the heap kept for the streams go back too
            return_freed_memory()

    def paced(self, requests) -> PacedRequests:
        return PacedRequests(requests, self.limits.idle_timeout)

    def responses(self, responses, context):
        """Yield `responses`, noting how long the client takes to take each."""
        try:
            for response in responses:
                with self._changed:
                    self._sending[context] = time.monotonic()
                yield response
                with self._changed:
                    self._sending.pop(context, None)
        finally:
            with self._changed:
                self._sending.pop(context, None)

    def wait_until_closed(self, timeout: float) -> bool:
        """Wait until no stream is open (their handlers have finished); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._open:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def stop(self) -> None:
        self._stopping.set()

    def _watch_sending(self) -> None:
        interval = min(1.0, self.limits.idle_timeout / 4)
        while not self._stopping.wait(interval):
            now = time.monotonic()
            with self._changed:
                stalled = [context for context, since in self._sending.items()
                           if now - since > self.limits.idle_timeout]
                for context in stalled:
                    del self._sending[context]
            for context in stalled:
                logger.info("%s took no response for %g s: call ended", context.peer(), self.limits.idle_timeout)
                context.cancel()


class InflightMemory:
    """The bytes announced by the arrays being received, across all calls."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._used = 0
        self._lock = threading.Lock()

    def receiver(self, context, shape, dtype, what: str, max_chunk_bytes: int) -> ArrayReceiver:
        """An ArrayReceiver whose bytes count against the budget until `context`'s call ends;
        then its memory goes back to the system at once (ServerBusy if they do not fit)."""
        nbytes = byte_count(shape, dtype)
        with self._lock:
            if self._used + nbytes > self.max_bytes:
                raise ServerBusy(f"{what} has {nbytes} bytes, and the requests being received hold {self._used} "
                                 f"of this server's {self.max_bytes} (pixelserve serve --max-inflight-bytes): "
                                 "try again in a moment, or send less at once")
            self._used += nbytes
        receiver = ArrayReceiver(shape, dtype, what, max_chunk_bytes)

        def release():
            receiver.release()
            with self._lock:
                self._used -= nbytes

        if not context.add_callback(release):  # the call has ended already
            release()
        return receiver

    @property
    def used(self) -> int:
        with self._lock:
            return self._used
