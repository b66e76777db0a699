"""Generators: streamed to a ``for await`` loop (README, guide: streams)."""


def read_batches(path, rows=2):
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    for i in range(0, len(lines), rows):
        yield lines[i : i + rows]


def read_chunks(path, size=1 << 20):
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk
