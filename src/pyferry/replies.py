"""What a worker sends about its calls: answers, errors, progress, stream items, callbacks.

Every thread that answers a call (the main thread, the event loop's, the
streams' flusher) goes through :class:`Replies`, which encodes with the
worker's handle table and frame limit and writes whole frames. A call is
answered once: :meth:`Replies.finish` marks it before its answer is written,
which ends its PROGRESS and expires its JS callbacks. An answer that cannot
be encoded becomes an ERROR for that call (see :mod:`pyferry.codec`); an
ERROR whose info cannot be sent goes with the info that can.
"""

from __future__ import annotations

import threading
from typing import Any

from pyferry.calls import Call
from pyferry.codec import encode, encode_scalar
from pyferry.errorinfo import describe_briefly, describe_exception
from pyferry.errors import EncodeError
from pyferry.handles import HandleTable
from pyferry.protocol import CALLBACK, DETACHED, ERROR, PROGRESS, RESULT, STREAM_END, STREAM_ITEMS
from pyferry.refs import AsHandle, qualname
from pyferry.transport import Channel

__all__ = ["Replies"]

Frame = tuple[bytes, list[memoryview]]

_NO_ARGS: list[Any] = []
_NO_KWARGS: dict[str, Any] = {}


class Replies:
    """Encodes and writes the messages a worker sends.

    Args:
        channel: the protocol channel (its writes are whole frames, under its lock).
        handles: the table that objects crossing as handles go into.
        limit: the most a message may hold, in bytes (the client's limit).
        live: the worker's calls not yet answered, by id; an answer takes its call out.
    """

    def __init__(
        self, channel: Channel, handles: HandleTable, limit: int, live: dict[int, Call]
    ) -> None:
        self._channel = channel
        self._handles = handles
        self._limit = limit
        self._live = live
        # Orders a call's PROGRESS frames before its answer (calls that asked only).
        self._progress_lock = threading.Lock()

    def send(self, message: list[Any]) -> None:
        """Encode and write a message of plain values (HELLO, errors, control messages)."""
        self._channel.write_frame(*encode(message, limit=self._limit))

    def write(self, header: bytes, buffers: list[memoryview]) -> None:
        """Write a frame encoded already."""
        self._channel.write_frame(header, buffers)

    def send_error(self, call_id: int, exc: BaseException, skip_frames: int = 0) -> None:
        """ERROR for ``call_id`` (0: the worker as a whole) without marking a Call answered."""
        self._channel.write_frame(*self._error_frame(call_id, exc, skip_frames))

    def _error_frame(self, call_id: int, exc: BaseException, skip_frames: int = 0) -> Frame:
        try:
            info = describe_exception(exc, skip_frames=skip_frames)
            return encode([ERROR, call_id, info], limit=self._limit)
        except BaseException:
            # A traceback larger than the client's frame limit, no memory left for
            # it, ...: the error must still settle its call, with what can be sent.
            return encode([ERROR, call_id, describe_briefly(exc)], limit=self._limit)

    def finish(self, call: Call) -> None:
        """Mark ``call`` answered (its callbacks expire, its PROGRESS stops) before the answer."""
        if call.progress:
            with self._progress_lock:
                call.answered = True
        else:
            call.answered = True
        self._live.pop(call.id, None)
        # A JSFunction kept by user code keeps the call: not its arguments.
        call.target, call.args, call.kwargs = None, _NO_ARGS, _NO_KWARGS

    def value(self, call: Call, value: Any) -> None:
        """Answer ``call`` with RESULT ``value``, or with the ERROR of why it cannot cross."""
        mode = call.result
        if mode != "handle":
            scalar = encode_scalar(RESULT, call.id, value)
            if scalar is not None and len(scalar) <= self._limit:
                self.finish(call)
                self._channel.write_frame(scalar)
                return
        try:
            header, buffers = encode(
                [RESULT, call.id, AsHandle(value) if mode == "handle" else value],
                "result",
                self._handles,
                by_value=mode == "value",
                limit=self._limit,
                field=2,
            )
        except EncodeError as exc:
            # A whole-message problem (too large, too many arrays) has no path: it
            # is about the result as a whole.
            self.error(call, exc if exc.path else EncodeError(exc.reason, "result"))
            return
        except MemoryError:
            self.error(call, _out_of_memory("the result", value))
            return
        self.finish(call)
        self._channel.write_frame(header, buffers)

    def error(self, call: Call, exc: BaseException, skip_frames: int = 0) -> None:
        """Answer ``call`` with ERROR ``exc`` (its traceback less ``skip_frames`` of ours)."""
        frame = self._error_frame(call.id, exc, skip_frames)
        self.finish(call)
        self._channel.write_frame(*frame)

    def encoded(self, call: Call, header: bytes, buffers: list[memoryview]) -> None:
        """Answer ``call`` with a frame encoded elsewhere (a Dask worker's RESULT)."""
        self.finish(call)
        self._channel.write_frame(header, buffers)

    def error_info(self, call: Call, info: dict[str, Any]) -> None:
        """Answer ``call`` with ERROR ``info``, error info made elsewhere (a Dask worker's)."""
        try:
            frame = encode([ERROR, call.id, info], limit=self._limit)
        except BaseException:
            # Info too large for the client's limit: its type and message still go.
            brief = {key: info.get(key, "") for key in ("type", "message", "code")}
            brief["message"] = str(brief["message"])[:1000]
            frame = encode([ERROR, call.id, {**brief, "traceback": "", "chain": []}])
        self.finish(call)
        self._channel.write_frame(*frame)

    def detached(self, call: Call) -> None:
        """DETACHED: ``call`` no longer holds the main thread (a task or a stream now)."""
        self.send([DETACHED, call.id, None])

    def progress(self, call: Call, report: list[Any]) -> None:
        """PROGRESS for ``call``, unless it has been answered already."""
        header, buffers = encode([PROGRESS, call.id, report], limit=self._limit)
        with self._progress_lock:
            if call.answered:
                return
            self._channel.write_frame(header, buffers)

    def items(self, call: Call, items: list[Any]) -> Frame:
        """Encode ``[STREAM_ITEMS, id, items]``; an EncodeError's path starts at ``[i]``."""
        mode = call.result
        try:
            return encode(
                [
                    STREAM_ITEMS,
                    call.id,
                    [AsHandle(x) for x in items] if mode == "handle" else items,
                ],
                "",
                self._handles,
                by_value=mode == "value",
                limit=self._limit,
                field=2,
            )
        except MemoryError:
            raise _out_of_memory("stream items", items) from None

    def callback(self, cid: int, callback_id: int, args: tuple[Any, ...]) -> Frame:
        """Encode CALLBACK ``cid``, a call of JS function ``callback_id`` with ``args``.

        Raises:
            EncodeError: an argument cannot cross (``path`` from ``args``).
        """
        try:
            return encode(
                [CALLBACK, cid, callback_id, list(args)],
                "args",
                self._handles,
                limit=self._limit,
                field=3,
            )
        except EncodeError as exc:
            raise (exc if exc.path else EncodeError(exc.reason, "args")) from None

    def end_stream(self, call: Call, error: BaseException | None, skip_frames: int) -> None:
        """Answer a streaming call: STREAM_END, or ERROR with ``error``."""
        if error is not None:
            self.error(call, error, skip_frames)
            return
        header, buffers = encode([STREAM_END, call.id, None])
        self.finish(call)
        self._channel.write_frame(header, buffers)


def _out_of_memory(what: str, value: Any) -> MemoryError:
    """The MemoryError a call is answered with when its answer did not fit in memory."""
    return MemoryError(f"out of memory while encoding {what} (a {qualname(type(value))})")
