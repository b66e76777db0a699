"""What a Dask gateway writes to its stderr: distributed's warnings and errors, not its chatter.

A gateway's stderr reaches the Node application (its ``'stderr'`` event, or
Node's own stderr). distributed logs at INFO by default; in a gateway it logs
at WARNING and above, unless ``DASK_LOGGING__DISTRIBUTED`` in the gateway's
environment chooses a level.

Two ERROR records of a client's reconnect are dropped, because in a gateway
no call waits for a reconnect: a call in flight fails at the loss
(``BackendUnavailableError``), the gateway closes that client, and the next
call makes a fresh one, whose failure to connect is that call's error. They
are the traceback of a reconnect cancelled by that close, and "Failed to
reconnect to scheduler after N seconds" when the reconnect window ends.
Every other warning and error stays visible.
"""

from __future__ import annotations

import logging
import os

__all__ = ["quiet"]

_done = False


class _DropReconnectErrors(logging.Filter):
    """Drop a client's reconnect errors (see the module docstring); keep every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        import asyncio

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return False
        return not str(record.msg).startswith("Failed to reconnect to scheduler")


def quiet() -> None:
    """Set distributed's logging for this gateway process (once; after importing distributed)."""
    global _done
    if _done:
        return
    _done = True
    if "DASK_LOGGING__DISTRIBUTED" not in os.environ:
        logging.getLogger("distributed").setLevel(logging.WARNING)
    logging.getLogger("distributed.client").addFilter(_DropReconnectErrors())
