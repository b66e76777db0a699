"""``python -m pyferry``: the same commands as the ``pyferry`` console script."""

from pyferry.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
