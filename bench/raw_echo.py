"""The raw floor for bench/core.mjs: echo length-prefixed messages on descriptor 3, nothing else.

Each message is a u32 length and that many bytes, read into one preallocated
buffer and written back as is: what any bridge must pay at least.
"""

import os
import socket
import struct

fd = 3
# The same kernel buffer sizes the pyferry worker asks for.
with socket.socket(fileno=os.dup(fd)) as sock:
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, 1 << 20)
buf = bytearray(1 << 24)
view = memoryview(buf)


def read_exactly(n: int) -> bool:
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:n]])
        if k == 0:
            return False
        got += k
    return True


while read_exactly(4):
    (size,) = struct.unpack_from("<I", buf)
    if not read_exactly(size):
        break
    os.writev(fd, [struct.pack("<I", size), view[:size]])
