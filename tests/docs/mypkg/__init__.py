"""The modules the documentation's examples call (tests/test_docs.py puts them on the path)."""

import time

import pyferry


def train(epochs):
    for i in range(epochs):
        time.sleep(0.001)
        pyferry.progress(i + 1, epochs, f"epoch {i + 1}")
    return epochs


def slow():
    """Long enough to be aborted (guide: timeouts, cancellation and the pool)."""
    time.sleep(30)
