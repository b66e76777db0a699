"""Frame layout and message kinds of the pyferry wire protocol: bytes in, bytes out, no I/O.

A frame is a fixed 8-byte prefix, a table of buffer lengths, a MessagePack
header and the out-of-band buffers, back to back, little-endian throughout::

    offset      size   meaning
    0           2      magic b"PF"
    2           2      u16  B, number of out-of-band buffers
    4           4      u32  H, length of the MessagePack header
    8           8*B    u64  length of each buffer, in order
    8+8B        H      header: one MessagePack array, [kind, id, ...]
    8+8B+H      ...    the B buffers, no padding between them

The header is a message: ``[kind, id, *fields]``. Kinds are small integers,
0 to 16 in version 1; ``CLIENT_KINDS`` and ``WORKER_KINDS`` say which side
sends each, so that a peer can refuse a kind that is not meant for it. The
extension types that values use are ``EXT_*``; ``FIELD_ROLES`` says where a
HANDLE or CALLBACK means more than a value.
``docs/protocol.md`` is the normative description; this module mirrors it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from pyferry.errors import ProtocolError

__all__ = [
    "CALL",
    "CALLBACK",
    "CALLBACK_ERROR",
    "CALLBACK_RESULT",
    "CANCEL",
    "CLIENT_KINDS",
    "DETACHED",
    "ERROR",
    "EXT_ARROW",
    "EXT_CALLBACK",
    "EXT_COMPLEX",
    "EXT_HANDLE",
    "EXT_NDARRAY",
    "EXT_TIMESTAMP",
    "FIELD_ROLES",
    "HELLO",
    "KIND_NAMES",
    "MAGIC",
    "MAX_BUFFERS",
    "MAX_DEPTH",
    "PREFIX",
    "PREFIX_SIZE",
    "PROGRESS",
    "PROTOCOL_VERSION",
    "RELEASE",
    "RESULT",
    "ROLE_ARGS",
    "ROLE_TARGET",
    "ROLE_VALUE",
    "STREAM_CLOSE",
    "STREAM_CREDIT",
    "STREAM_END",
    "STREAM_ITEMS",
    "WITHDRAW",
    "WITHDRAWN",
    "WORKER_KINDS",
    "Limits",
    "pack_prefix",
    "parse_lengths",
    "parse_prefix",
]

PROTOCOL_VERSION: Final = 1
MAGIC: Final = b"PF"
PREFIX_SIZE: Final = 8
# The prefix: magic, buffer count (u16), header length (u32), little-endian.
PREFIX: Final = struct.Struct("<2sHI")

# Message kinds (docs/protocol.md, section 3). Both sides open with HELLO: [0, 0, info].
HELLO: Final = 0
# Client -> worker: [1, id, target, args, kwargs-or-nil] or [..., options-or-nil].
CALL: Final = 1
# Worker -> client: [2, id, value].
RESULT: Final = 2
# Worker -> client: [3, id, error-info]; id 0 means the worker as a whole failed.
ERROR: Final = 3
# Client -> worker: [4, id]: stop that call.
CANCEL: Final = 4
# Client -> worker: [5, 0, [handle-id, ...]]: drop these handles.
RELEASE: Final = 5
# Worker -> client: [6, cid, callback-id, args]: call a JS function.
CALLBACK: Final = 6
# Client -> worker: [7, cid, value] and [8, cid, error-info]: the JS function's answer.
CALLBACK_RESULT: Final = 7
CALLBACK_ERROR: Final = 8
# Worker -> client: [9, id, [item, ...]] and [10, id, nil]: a stream's items and its end.
STREAM_ITEMS: Final = 9
STREAM_END: Final = 10
# Client -> worker: [11, id, n] (n more items may be sent) and [12, id] (stop the stream).
STREAM_CREDIT: Final = 11
STREAM_CLOSE: Final = 12
# Worker -> client: [13, id, [done, total, message]].
PROGRESS: Final = 13
# Worker -> client: [14, id, nil]: the call no longer holds the worker's main thread.
DETACHED: Final = 14
# Client -> worker: [15, id]: give back a call sent ahead that has not started.
WITHDRAW: Final = 15
# Worker -> client: [16, id, nil]: that call never started and never will.
WITHDRAWN: Final = 16

KIND_NAMES: Final = {
    HELLO: "HELLO",
    CALL: "CALL",
    RESULT: "RESULT",
    ERROR: "ERROR",
    CANCEL: "CANCEL",
    RELEASE: "RELEASE",
    CALLBACK: "CALLBACK",
    CALLBACK_RESULT: "CALLBACK_RESULT",
    CALLBACK_ERROR: "CALLBACK_ERROR",
    STREAM_ITEMS: "STREAM_ITEMS",
    STREAM_END: "STREAM_END",
    STREAM_CREDIT: "STREAM_CREDIT",
    STREAM_CLOSE: "STREAM_CLOSE",
    PROGRESS: "PROGRESS",
    DETACHED: "DETACHED",
    WITHDRAW: "WITHDRAW",
    WITHDRAWN: "WITHDRAWN",
}
# Which side sends which kind (HELLO: both, once, first).
CLIENT_KINDS: Final = frozenset(
    {CALL, CANCEL, RELEASE, CALLBACK_RESULT, CALLBACK_ERROR, STREAM_CREDIT, STREAM_CLOSE, WITHDRAW}
)
WORKER_KINDS: Final = frozenset(
    {RESULT, ERROR, CALLBACK, STREAM_ITEMS, STREAM_END, PROGRESS, DETACHED, WITHDRAWN}
)

# Roles: what a HANDLE or CALLBACK means where it stands (section 5.7), for the
# worker's decode. By default (ROLE_VALUE) a HANDLE is its object and a CALLBACK is
# refused; FIELD_ROLES names the fields, by message kind, where they mean more.
ROLE_VALUE: Final = 1
ROLE_TARGET: Final = 2  # a CALL's target: a HANDLE is the object to call into
ROLE_ARGS: Final = 3  # a CALL's args and kwargs: a CALLBACK is a callable
FIELD_ROLES: Final = {CALL: {2: ROLE_TARGET, 3: ROLE_ARGS, 4: ROLE_ARGS}}

# Extension types (section 5): pyferry's own, and MessagePack's timestamp.
EXT_TIMESTAMP: Final = -1
EXT_NDARRAY: Final = 1
EXT_COMPLEX: Final = 2
EXT_HANDLE: Final = 3
EXT_CALLBACK: Final = 4
EXT_ARROW: Final = 5

MAX_BUFFERS: Final = 0xFFFF
# Containers a message may nest, its own array counting as one (section 9).
MAX_DEPTH: Final = 512


class Limits:
    """Size bounds checked against declared lengths before anything is allocated.

    Args:
        max_message_bytes: the most a frame (header plus buffers) may declare.
    """

    __slots__ = ("max_message_bytes",)

    def __init__(self, max_message_bytes: int = 1 << 30) -> None:
        if max_message_bytes < PREFIX_SIZE:
            raise ValueError(f"max_message_bytes must be at least {PREFIX_SIZE}")
        self.max_message_bytes = max_message_bytes


def pack_prefix(header_len: int, buffer_lengths: Sequence[int]) -> bytes:
    """Build the prefix and length table that precede a header of ``header_len`` bytes."""
    count = len(buffer_lengths)
    if count > MAX_BUFFERS:
        raise ProtocolError(f"a frame holds at most {MAX_BUFFERS} buffers, not {count}")
    prefix = PREFIX.pack(MAGIC, count, header_len)
    if count == 0:
        return prefix
    return prefix + struct.pack(f"<{count}Q", *buffer_lengths)


def parse_prefix(data: bytes | bytearray | memoryview, limits: Limits) -> tuple[int, int]:
    """Read the 8-byte prefix; return (buffer count, header length).

    Raises:
        ProtocolError: bad magic, or a header longer than the limit.
    """
    magic, count, header_len = PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(f"bad frame magic {bytes(magic)!r}, expected {MAGIC!r}")
    if header_len == 0:
        raise ProtocolError("frame has an empty header")
    if header_len > limits.max_message_bytes:
        raise ProtocolError(
            f"frame header of {header_len} bytes exceeds the limit of "
            f"{limits.max_message_bytes} bytes"
        )
    return count, header_len


def parse_lengths(
    data: bytes | bytearray | memoryview, count: int, header_len: int, limits: Limits
) -> list[int]:
    """Read ``count`` buffer lengths and check the frame's declared total against the limit.

    Raises:
        ProtocolError: the header and buffers together exceed the limit.
    """
    lengths = list(struct.unpack_from(f"<{count}Q", data)) if count else []
    total = header_len + sum(lengths)
    if total > limits.max_message_bytes:
        raise ProtocolError(
            f"frame of {total} bytes exceeds the limit of {limits.max_message_bytes} bytes"
        )
    return lengths
