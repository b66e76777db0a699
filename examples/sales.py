"""The Python half of examples/dataframe.mjs: a pandas summary of a table built in JS."""

from __future__ import annotations

import pandas as pd


def summary(sales: pd.DataFrame, by: str, column: str) -> pd.DataFrame:
    """Describe ``column`` per value of ``by``: count, mean, std, min, quartiles, max.

    ``sales`` arrives as a DataFrame (an Arrow table from JS); the result, whose
    index is the group, goes back as an Arrow table with the group as a column.
    """
    stats = sales.groupby(by, observed=True)[column].describe()
    return stats.round(2).reset_index()
