"""A fitted model: an object that crosses as a handle (README's first example)."""

import numpy as np


class Fitted:
    def __init__(self, data):
        self.mean = float(np.mean(data))

    def predict(self, x):
        return np.asarray(x, dtype=float) * 0 + self.mean
