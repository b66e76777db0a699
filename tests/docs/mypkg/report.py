"""A DataFrame in, a DataFrame out (guide: DataFrames)."""


def by_region(sales):
    return sales.groupby("region", as_index=False)["amount"].sum()
