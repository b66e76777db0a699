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

The header is a message: ``[kind, id, *fields]``. Kinds are small integers;
the ones a later protocol revision will use are reserved here already so that
a peer meeting one it does not handle can say so instead of misreading it.
``docs/protocol.md`` is the normative description; this module mirrors it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from pyferry.errors import ProtocolError

__all__ = [
    "CALL",
    "CANCEL",
    "ERROR",
    "HELLO",
    "MAGIC",
    "MAX_BUFFERS",
    "PREFIX_SIZE",
    "PROTOCOL_VERSION",
    "RESERVED_KINDS",
    "RESULT",
    "Limits",
    "pack_prefix",
    "parse_lengths",
    "parse_prefix",
]

PROTOCOL_VERSION: Final = 1
MAGIC: Final = b"PF"
PREFIX_SIZE: Final = 8
_PREFIX = struct.Struct("<2sHI")

# Message kinds. Both sides open with HELLO: [0, 0, info].
HELLO: Final = 0
# Client -> worker: [1, id, target, args, kwargs-or-nil].
CALL: Final = 1
# Worker -> client: [2, id, value].
RESULT: Final = 2
# Worker -> client: [3, id, error-info]; id 0 means the worker as a whole failed.
ERROR: Final = 3
# Client -> worker: [4, id]. Reserved: cancellation of a running call.
CANCEL: Final = 4
# Reserved for remote handles, JS callbacks, streams and progress.
RESERVED_KINDS: Final = {
    5: "RELEASE",
    6: "CALLBACK",
    7: "CALLBACK_RESULT",
    8: "CALLBACK_ERROR",
    9: "STREAM_ITEMS",
    10: "STREAM_END",
    11: "STREAM_CREDIT",
    12: "STREAM_CLOSE",
    13: "PROGRESS",
}

MAX_BUFFERS: Final = 0xFFFF


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
    prefix = _PREFIX.pack(MAGIC, count, header_len)
    if count == 0:
        return prefix
    return prefix + struct.pack(f"<{count}Q", *buffer_lengths)


def parse_prefix(data: bytes | bytearray | memoryview, limits: Limits) -> tuple[int, int]:
    """Read the 8-byte prefix; return (buffer count, header length).

    Raises:
        ProtocolError: bad magic, or a header longer than the limit.
    """
    magic, count, header_len = _PREFIX.unpack_from(data)
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
