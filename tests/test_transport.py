"""Frames over a real socket pair: prefix checks, limits, split reads, gather writes."""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from pyferry.codec import decode, encode
from pyferry.errors import ProtocolError
from pyferry.protocol import Limits, pack_prefix, parse_prefix
from pyferry.transport import Channel


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def frame_bytes(value: object) -> bytes:
    header, buffers = encode(value)
    return pack_prefix(len(header), [b.nbytes for b in buffers]) + header + b"".join(buffers)


def test_prefix_layout() -> None:
    prefix = pack_prefix(5, [3, 2**40])
    assert prefix[:2] == b"PF"
    assert struct.unpack_from("<HI", prefix, 2) == (2, 5)
    assert struct.unpack_from("<2Q", prefix, 8) == (3, 2**40)
    assert parse_prefix(prefix, Limits()) == (2, 5)


def test_frame_split_at_every_byte_boundary(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    value = [2, 7, {"x": np.arange(5, dtype=np.int32), "y": np.ones((2, 2))}, "tail"]
    data = frame_bytes(value)
    channel = Channel(b.fileno(), b.fileno(), Limits())
    for cut in range(1, len(data)):
        a.sendall(data[:cut])

        def rest(cut: int = cut) -> None:
            a.sendall(data[cut:])

        # The second half is sent from another thread while the reader waits for it.
        sender = threading.Thread(target=rest)
        sender.start()
        frame = channel.read_frame()
        sender.join()
        assert frame is not None
        got = decode(*frame)
        assert got[0:2] == [2, 7]
        assert got[3] == "tail"
        np.testing.assert_array_equal(got[2]["x"], np.arange(5, dtype=np.int32))
        np.testing.assert_array_equal(got[2]["y"], np.ones((2, 2)))


def test_received_arrays_are_writable_and_aligned(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    a.sendall(frame_bytes([np.arange(3, dtype=np.int8), np.arange(3, dtype=np.float64)]))
    frame = Channel(b.fileno(), b.fileno(), Limits()).read_frame()
    assert frame is not None
    small, big = decode(*frame)
    big[0] = 42.0
    assert big.flags.writeable
    assert big.ctypes.data % 8 == 0
    assert small.tolist() == [0, 1, 2]


def test_large_array_through_gather_write(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    arr = np.random.default_rng(1).random(2_000_000)
    header, buffers = encode([arr])
    writer = Channel(a.fileno(), a.fileno(), Limits())
    sender = threading.Thread(target=writer.write_frame, args=(header, buffers))
    sender.start()
    frame = Channel(b.fileno(), b.fileno(), Limits()).read_frame()
    sender.join()
    assert frame is not None
    np.testing.assert_array_equal(decode(*frame)[0], arr)


def test_clean_eof_between_frames(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    a.sendall(frame_bytes([1]))
    a.shutdown(socket.SHUT_WR)
    channel = Channel(b.fileno(), b.fileno(), Limits())
    assert channel.read_frame() is not None
    assert channel.read_frame() is None


@pytest.mark.parametrize("cut", [3, 8, 12, -1])
def test_eof_inside_a_frame_is_a_protocol_error(
    pair: tuple[socket.socket, socket.socket], cut: int
) -> None:
    a, b = pair
    a.sendall(frame_bytes([np.arange(4)])[:cut])
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(ProtocolError, match="closed in the middle"):
        Channel(b.fileno(), b.fileno(), Limits()).read_frame()


def test_declared_sizes_over_the_limit_fail_before_allocation(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    channel = Channel(b.fileno(), b.fileno(), Limits(max_message_bytes=1024))
    # A header claiming 4 GiB - 1: refused from the prefix alone.
    a.sendall(b"PF\x00\x00\xff\xff\xff\xff")
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        channel.read_frame()
    a2, b2 = socket.socketpair()
    try:
        # Buffers whose declared total (2**62 bytes) is over the limit: refused from the table.
        a2.sendall(pack_prefix(4, [2**62]))
        channel = Channel(b2.fileno(), b2.fileno(), Limits(max_message_bytes=1024))
        with pytest.raises(ProtocolError, match="exceeds the limit"):
            channel.read_frame()
    finally:
        a2.close()
        b2.close()


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"XY\x00\x00\x01\x00\x00\x00\xc0", "magic"), (b"PF\x00\x00\x00\x00\x00\x00", "empty header")],
)
def test_bad_prefixes(pair: tuple[socket.socket, socket.socket], data: bytes, words: str) -> None:
    a, b = pair
    a.sendall(data)
    with pytest.raises(ProtocolError, match=words):
        Channel(b.fileno(), b.fileno(), Limits()).read_frame()


def test_pipes_work_as_well_as_sockets() -> None:
    r, w = os.pipe()
    try:
        Channel(r, w, Limits()).write_frame(*encode([np.arange(3)]))
        frame = Channel(r, w, Limits()).read_frame()
        assert frame is not None
        assert decode(*frame)[0].tolist() == [0, 1, 2]
    finally:
        os.close(r)
        os.close(w)
