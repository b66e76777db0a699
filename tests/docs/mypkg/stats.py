"""A function of your own, called by dotted name (guide: calls by name)."""

import numpy as np


def fit(data):
    return float(np.polyfit(np.arange(len(data)), data, 1)[0])
