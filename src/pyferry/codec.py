"""Python values <-> wire values: MessagePack plus extension types and out-of-band buffers.

Encoding turns a message (a list) into header bytes and a list of buffers;
decoding does the reverse. Arrays never go through MessagePack: the header
holds a small NDARRAY extension (buffer index, dtype code, shape) and the bytes
travel as a separate buffer, sent from the array's own memory.

==================  ================================  ==========================
Python              wire                              notes
==================  ================================  ==========================
None, bool, str     nil, bool, str
int                 int (up to 64 bits)               larger: EncodeError
float               float 64                          NaN, inf, -0.0 kept
bytes, bytearray    bin
list, tuple         array                             decodes to list
dict                map                               keys of any wire type
complex             ext 2: two f64                    also numpy complex scalars
datetime (aware)    ext -1 (MessagePack timestamp)    decodes as UTC
ndarray             ext 1 + one buffer                0-d arrays go as scalars
datetime64 array    ext 1, dtype 14 + time unit       NaT kept; timedelta64: 15
numpy scalar        its Python value (``.item()``)
datetime64 scalar   ext -1, nanoseconds kept          read as UTC; NaT: None
timedelta64 scalar  float 64: seconds                 NaT: None
DataFrame, Table    ext 5 + one buffer (Arrow IPC)    see pyferry.arrow
any other object    ext 3 HANDLE: u64 id, type, repr  worker side, see below
==================  ================================  ==========================

Handles and callbacks depend on who encodes and decodes. Plain ``encode`` and
``decode`` (a client's view, and the tests') read a HANDLE as a
:class:`HandleRef` and a CALLBACK as a :class:`CallbackRef`, and write those
back as the extensions. The worker passes its handle table to ``encode``, so
that an object that cannot cross by value goes into the table and crosses as
a HANDLE, and a :class:`Peer` to ``decode``, so that a HANDLE becomes the
object in the table and a CALLBACK in a CALL's arguments a callable.

numpy is imported only when an array actually arrives; an array that leaves
implies numpy is already loaded. The same goes for pandas and pyarrow.

The parts: :mod:`pyferry.encoder` packs, :mod:`pyferry.explain` says why a
value failed to, :mod:`pyferry.ndarray` and :mod:`pyferry.arrow` are the array
and table extensions, :mod:`pyferry.refs` the references; the extension codes
are ``EXT_*`` in :mod:`pyferry.protocol`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

import msgpack

from pyferry import arrow
from pyferry.encoder import EXT_MARKER, TWO_F64, Encoder, count_exts, local
from pyferry.errors import DecodeError, EncodeError, HandleError, ProtocolError
from pyferry.explain import explain
from pyferry.ndarray import SCALARS, decode_array
from pyferry.protocol import (
    EXT_ARROW,
    EXT_CALLBACK,
    EXT_COMPLEX,
    EXT_HANDLE,
    EXT_NDARRAY,
    FIELD_ROLES,
    MAX_BUFFERS,
    ROLE_ARGS,
    ROLE_TARGET,
    ROLE_VALUE,
)
from pyferry.refs import (
    REF_ID,
    CallbackRef,
    HandleRef,
    HandleSink,
    Peer,
    TargetHandle,
    reference_id,
)

__all__ = ["decode", "encode", "encode_scalar", "peek_envelope"]

_KEEP_PACKER_BELOW = 1 << 20


# The exact types encode_scalar packs as they are; numpy's bool, int and float go as these.
_PLAIN_SCALARS: Final = frozenset({bool, int, float, type(None)})


def encode_scalar(kind: int, ident: int, value: Any) -> bytes | None:
    """The header of ``[kind, ident, value]`` when ``value`` is a scalar that needs no encoder.

    That is a bool, int, float or None, or a numpy bool, int or float once ``encode``
    has met numpy (the answer of most calls): the same bytes ``encode`` makes, in a
    fraction of its time, with no buffers and at most 20 bytes. None for anything
    else, and for an int MessagePack cannot hold: ``encode`` then says what is wrong.
    """
    vtype = type(value)
    if vtype not in _PLAIN_SCALARS:
        convert = SCALARS.get(vtype)
        if convert is None:
            return None
        value = convert(value)
    try:
        packer: msgpack.Packer = local.scalars  # per thread: any thread may answer a call
    except AttributeError:
        packer = local.scalars = msgpack.Packer(use_bin_type=True)
    try:
        return packer.pack([kind, ident, value])
    except OverflowError:
        return None


def encode(
    message: Any,
    root: str = "value",
    handles: HandleSink | None = None,
    *,
    by_value: bool = False,
    limit: int | None = None,
    field: int | None = None,
) -> tuple[bytes, list[memoryview]]:
    """Turn ``message`` into header bytes and the out-of-band buffers the header refers to.

    Args:
        message: the value to encode.
        root: how the value is named in an error path (``result`` gives ``result[2]['foo']``).
        handles: the worker's handle table. With it, an object that cannot cross by
            value crosses as a HANDLE (and an ``AsHandle`` always does); without it
            (a client), ``HandleRef`` and ``CallbackRef`` cross as the ids they hold.
        by_value: with ``handles``, refuse objects that cannot cross by value
            instead (``result: "value"``); ``AsHandle`` still crosses as a HANDLE.
        limit: the most the header and buffers may add up to, in bytes.
        field: the index of the message's one field that can fail (a RESULT's
            value): error paths start there, named ``root``, the envelope
            counting as one level of nesting.

    Raises:
        EncodeError: a part of the value cannot cross (``path`` names it), or the
            message holds more arrays than a frame can carry or is larger than
            ``limit`` (no ``path``); also whatever user code run while packing
            raises (a ``__repr__``, a tzinfo), ``SystemExit`` included. The
            handles it had made are dropped again.
        MemoryError: the message does not fit in memory.
    """
    enc = local.__dict__.get("encoder")
    if enc is None:
        enc = local.encoder = Encoder()
    elif enc.busy:
        # encode() inside encode(): a repr() that reports progress, say. The
        # thread's packer is mid-message, so this one gets its own.
        enc = Encoder()
    enc.buffers = []
    enc.table = handles
    enc.by_value = by_value
    enc.exts = 0
    enc.added = None
    enc.busy = True
    try:
        header = enc.packer.pack(message)
    except BaseException as exc:
        # The packer stopped half way, maybe inside user code (a __repr__, a tzinfo):
        # whatever that raised, even SystemExit, is a value that cannot cross. Only
        # a MemoryError is not about the value; the caller reports it as it is.
        _done(enc, handles, failed=True)
        _forget(enc)  # its buffer may have grown to most of the memory there is
        if isinstance(exc, MemoryError):
            raise
        raise _explain_message(message, root, handles, by_value, field) from exc
    enc.table = None  # _done(enc, handles, failed=False), inlined: this is every message's path
    enc.busy = False
    buffers = enc.buffers
    # msgpack writes an ExtType it meets as it is: one from user code would put
    # any extension on the wire. Ours all come from ``default``, which counts them.
    if EXT_MARKER.search(header) is not None and count_exts(header) != enc.exts:
        _done(enc, handles, failed=True)
        raise _explain_message(message, root, handles, by_value, field)
    if len(header) > _KEEP_PACKER_BELOW:
        # Do not keep a large packing buffer alive between messages.
        _forget(enc)
    if len(buffers) > MAX_BUFFERS:
        _done(enc, handles, failed=True)
        raise EncodeError(f"{len(buffers)} arrays in one message, at most {MAX_BUFFERS}")
    if limit is not None:
        size = len(header)
        if buffers:
            size += sum(b.nbytes for b in buffers)
        if size > limit:
            _done(enc, handles, failed=True)
            raise EncodeError(f"message of {size} bytes exceeds the limit of {limit} bytes")
    return header, buffers


def _explain_message(
    message: Any, root: str, handles: HandleSink | None, by_value: bool, field: int | None
) -> EncodeError:
    as_handles = handles is not None and not by_value
    if field is None:
        return explain(message, root, handles=as_handles)
    return explain(message[field], root, handles=as_handles, depth=1)


def _forget(enc: Encoder) -> None:
    if local.__dict__.get("encoder") is enc:
        del local.encoder


def _done(enc: Encoder, handles: HandleSink | None, *, failed: bool) -> None:
    """Free the encoder for the next message; if the message failed, drop its new handles."""
    enc.table = None  # the encoder outlives the message: do not keep the table
    enc.busy = False
    if failed and enc.added is not None and handles is not None:
        handles.discard(enc.added)
        enc.added = None


def decode(
    header: bytes | bytearray | memoryview,
    buffers: list[Any],
    peer: Peer | None = None,
    roles: Mapping[int, Mapping[int, int]] = FIELD_ROLES,
) -> Any:
    """Turn header bytes and the frame's buffers back into Python values.

    An extension type that protocol version 1 does not define is a protocol
    violation, not a bad value: a version 1 peer never sends one, so the stream
    itself cannot be trusted. It wins over a malformed value of a known type
    anywhere in the same header.

    Args:
        header: the MessagePack header of a frame.
        buffers: the frame's out-of-band buffers (writable ones give writable arrays).
        peer: the worker's side of handles and callbacks. Without it a HANDLE
            decodes as a ``HandleRef`` and a CALLBACK as a ``CallbackRef``. With
            it what a reference becomes depends on its field's role (``roles``):
            a HANDLE is the object in the table (in ``ROLE_TARGET``, wrapped in
            ``TargetHandle``), and a CALLBACK, valid only in ``ROLE_ARGS``, is
            the callable ``peer.callback`` makes.
        roles: message kind -> {field index: role}, for the fields where a
            reference means more than a value (default: the protocol's
            ``FIELD_ROLES``: a CALL's target, args and kwargs).

    Raises:
        ProtocolError: the header holds an extension type that is not in version 1.
        DecodeError: the header is not valid MessagePack or a known extension is malformed.
        HandleError: a HANDLE names an id that is not in the table (with ``peer``).
    """
    hook = _ExtHook(buffers, peer)
    try:
        message = msgpack.unpackb(
            header, ext_hook=hook, raw=False, strict_map_key=False, timestamp=3
        )
    except ProtocolError:
        raise
    except _Placed:
        # A HANDLE or CALLBACK means different things in different fields: read the
        # message again field by field (only messages that hold one pay for it; in
        # C, it costs about what a walk of the decoded values in Python would).
        return _decode_fields(header, buffers, peer, roles)
    except Exception as exc:  # msgpack's errors, a timestamp out of datetime's range, ...
        _raise_failure(hook, exc)
    if hook.error is not None:
        raise hook.error
    return message


def _decode_fields(
    header: bytes | bytearray | memoryview,
    buffers: list[Any],
    peer: Peer | None,
    roles: Mapping[int, Mapping[int, int]],
) -> Any:
    """Decode a message ``[kind, id, ...fields]`` telling the hook each field's role."""
    hook = _ExtHook(buffers, peer)
    hook.role = ROLE_VALUE
    try:
        message = _unpack_fields(header, hook, roles)
    except ProtocolError:
        raise
    except Exception as exc:
        _raise_failure(hook, exc)
    if hook.error is not None:
        raise hook.error
    return message


def _unpack_fields(
    header: bytes | bytearray | memoryview, hook: _ExtHook, roles: Mapping[int, Mapping[int, int]]
) -> list[Any]:
    unpacker = msgpack.Unpacker(
        ext_hook=hook,
        raw=False,
        strict_map_key=False,
        timestamp=3,
        max_buffer_size=max(len(header), 1),
    )
    unpacker.feed(header)
    size = unpacker.read_array_header()
    message: list[Any] = []
    fields: Mapping[int, int] = {}
    for index in range(size):
        if index == 1:  # the kind is read: its fields' roles apply from here
            kind = message[0]
            fields = roles.get(kind, fields) if type(kind) is int else fields
        elif index == 2 and type(message[1]) is int:
            hook.message_id = message[1]  # a callback is bound to its call (the message's id)
        hook.role = fields.get(index, ROLE_VALUE)
        message.append(unpacker.unpack())
    if unpacker.tell() != len(header):
        raise DecodeError(f"{len(header) - unpacker.tell()} bytes left after the message")
    return message


def _raise_failure(hook: _ExtHook, exc: Exception) -> NoReturn:
    """Raise the DecodeError (or HandleError) for what went wrong while unpacking."""
    # A bad extension met earlier in the header comes first in the stream.
    if hook.error is not None:
        raise hook.error from None
    if isinstance(exc, DecodeError):
        raise exc
    if isinstance(exc, TypeError) and "unhashable" in str(exc):
        # A JS Map key that is an array (or a map): a dict cannot hold it.
        raise DecodeError(f"a map key cannot be a dict key: {exc}") from exc
    if isinstance(exc, msgpack.StackError):  # it has no message of its own
        raise DecodeError("malformed message: nested deeper than msgpack allows") from exc
    raise DecodeError(f"malformed message: {exc or type(exc).__name__}") from exc


class _Placed(Exception):
    """Raised by the hook: this message needs decoding field by field (see ``decode``)."""


# The hook's role before it knows the field: the first HANDLE or CALLBACK (with a
# peer) restarts the decoding field by field. Else one of protocol's ROLE_*.
_ANYWHERE = 0


class _ExtHook:
    """msgpack's ext_hook: builds the values of the known extensions, refuses other codes.

    A malformed extension does not stop the unpacking: its error is kept (the
    first one) and raised once the whole header has been read, so that an
    unknown extension type later in the header is still found.
    """

    __slots__ = ("buffers", "error", "message_id", "peer", "role")

    def __init__(self, buffers: list[Any], peer: Peer | None = None) -> None:
        self.buffers = buffers
        self.peer = peer
        self.role = _ANYWHERE
        self.message_id = 0
        self.error: DecodeError | HandleError | None = None

    def __call__(self, code: int, data: bytes) -> Any:
        decoder = _DECODERS.get(code)
        if decoder is None:
            if code in _REFERENCES:
                return self._reference(code, data)
            raise ProtocolError(_unknown_extension(code))
        if self.error is not None:
            return None
        try:
            return decoder(data, self.buffers)
        except DecodeError as exc:
            self.error = exc
            return None

    def _reference(self, code: int, data: bytes) -> Any:
        peer = self.peer
        if peer is not None and self.role == _ANYWHERE:
            raise _Placed
        if self.error is not None:
            return None
        try:
            ident = reference_id(code, data)
            if code == EXT_HANDLE:
                if peer is None:
                    label = data[REF_ID.size :].decode("utf-8", "replace")
                    type_name, _, text = label.partition("\n")
                    return HandleRef(ident, type_name, text)
                obj = peer.handle(ident)
                return TargetHandle(obj, ident) if self.role == ROLE_TARGET else obj
            if peer is None:
                return CallbackRef(ident)
            if self.role != ROLE_ARGS:
                raise DecodeError(
                    "a JS callback (CALLBACK) is only valid in a CALL's args and kwargs"
                )
            return peer.callback(ident, self.message_id)
        except (DecodeError, HandleError) as exc:
            self.error = exc
            return None


def _decode_complex(data: bytes, buffers: list[Any]) -> complex:
    if len(data) != TWO_F64.size:
        raise DecodeError(f"complex extension of {len(data)} bytes, expected 16")
    return complex(*TWO_F64.unpack(data))


# The value extensions: code -> decode(payload, the frame's buffers). MessagePack's
# timestamp (EXT_TIMESTAMP) msgpack reads itself; HANDLE and CALLBACK, references,
# depend on who decodes and where in the message (_ExtHook._reference).
_DECODERS: Final[dict[int, Callable[[bytes, list[Any]], Any]]] = {
    EXT_NDARRAY: decode_array,
    EXT_COMPLEX: _decode_complex,
    EXT_ARROW: arrow.decode_table,
}
_REFERENCES: Final = frozenset({EXT_HANDLE, EXT_CALLBACK})


def _unknown_extension(code: int) -> str:
    return f"unknown extension type {code}: not in protocol version 1"


def peek_envelope(header: bytes) -> tuple[int | None, int | None]:
    """The kind and id of a message whose body could not be decoded, if its envelope is intact."""
    try:
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(header), 1))
        unpacker.feed(header)
        if unpacker.read_array_header() < 2:
            return None, None
        kind = unpacker.unpack()
        ident = unpacker.unpack()
    except Exception:
        return None, None
    if type(kind) is not int or type(ident) is not int or ident <= 0:
        return None, None
    return kind, ident
