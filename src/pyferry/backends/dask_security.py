"""Which Dask schedulers a gateway may talk to, and over what: addresses and TLS.

A Dask scheduler unpickles the task graphs its clients send, so whoever can
reach it runs code on the cluster, and what travels to it is the callers'
data. The gateway therefore talks to a scheduler either

- over ``tls://`` with :class:`TLSFiles` (a CA, a client certificate and its
  key: ``distributed.Security``, encryption required by default), to any host;
- over plain ``tcp://`` to a loopback address (the machine's own processes);
- over plain ``tcp://`` to another host only when the user says, by an option
  whose name says it is insecure, that the network is trusted.

:func:`check_address` applies these rules to a command line's address before
the worker starts, and :func:`check_scheduler_file` to a scheduler file's
address when the gateway connects; :func:`security` builds the ``distributed.Security`` the
client connects with. ``distributed`` is imported by :func:`security` only.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from typing import Any

from pyferry.errors import BackendUnavailableError

__all__ = ["TLSFiles", "check_address", "check_scheduler_file", "security"]


@dataclass(frozen=True)
class TLSFiles:
    """The PEM files of the gateway's TLS connection to its scheduler.

    Args:
        ca: the CA certificate(s) the scheduler's certificate must be signed by.
        cert: the gateway's own certificate (Dask schedulers require one), which
            may hold its private key as well.
        key: the certificate's private key, if not in ``cert``.
        require_encryption: refuse any connection that is not TLS (Dask's
            ``require_encryption``); True unless the user turns it off.
    """

    ca: str
    cert: str
    key: str | None = None
    require_encryption: bool = True

    def check(self) -> None:
        """Refuse files that do not exist, naming the option.

        Raises:
            ValueError: one of the files is not a readable file.
        """
        for flag, path in (
            ("--tls-ca-file", self.ca),
            ("--tls-cert", self.cert),
            ("--tls-key", self.key),
        ):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"{flag} {path!r} is not a file (a PEM file is expected)")


def check_address(address: str, insecure: bool, tls: TLSFiles | None = None) -> None:
    """Refuse a scheduler address the gateway cannot use safely (see the module docstring).

    Args:
        address: ``tcp://HOST:PORT`` or ``tls://HOST:PORT``.
        insecure: allow plain ``tcp://`` to a host that is not loopback.
        tls: the TLS files, if the gateway has them.

    Raises:
        ValueError: not ``tcp://`` or ``tls://`` with a host and port; ``tls://``
            without TLS files; ``tcp://`` while encryption is required; a
            non-loopback ``tcp://`` host without ``insecure``.
    """
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("tcp", "tls"):
        raise ValueError(f"scheduler address {address!r} is not tcp://HOST:PORT or tls://HOST:PORT")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise ValueError(f"scheduler address {address!r} is not {scheme}://HOST:PORT")
    if scheme == "tls":
        if tls is None:
            raise ValueError(
                f"scheduler address {address!r} is tls:// but no TLS files were given: pass "
                "--tls-ca-file, --tls-cert and --tls-key (JS: security: { ca, cert, key })"
            )
        return
    if tls is not None and tls.require_encryption:
        raise ValueError(
            f"scheduler address {address!r} is plain tcp:// while TLS encryption is required: "
            "use the scheduler's tls:// address (or --tls-require-encryption no, JS: "
            "security.requireEncryption: false)"
        )
    if insecure or _loopback(host):
        return
    raise ValueError(
        f"scheduler address {address!r} is not a loopback address: a Dask scheduler runs "
        "whatever its clients send, and tcp:// is neither encrypted nor authenticated. Use "
        "tls:// with --tls-ca-file, --tls-cert and --tls-key (JS: security: { ca, cert, key }), "
        "or pass --insecure-tcp-scheduler yes (JS: insecureScheduler: true) on a network you trust"
    )


def check_scheduler_file(
    path: str, insecure: bool, tls: TLSFiles | None = None, address: str | None = None
) -> None:
    """Apply :func:`check_address` to the scheduler a scheduler file names.

    Args:
        path: the scheduler file (``--scheduler-file``).
        insecure: as for :func:`check_address`.
        tls: as for :func:`check_address`.
        address: the address the client connected to through the file; None to
            read it from the file, which passes if it is not there yet or is not
            a scheduler file (the Dask client then waits for it, or says what is wrong).

    Raises:
        BackendUnavailableError: the address is refused (the message says why).
    """
    if address is None:
        try:
            with open(path, encoding="utf-8") as f:
                address = json.load(f)["address"]
        except (OSError, ValueError, KeyError, TypeError):
            return
        if type(address) is not str:
            return
    try:
        check_address(address, insecure, tls)
    except ValueError as exc:
        raise BackendUnavailableError(
            f"scheduler file {path} names a scheduler the gateway may not use: {exc}"
        ) from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def security(tls: TLSFiles | None) -> Any:
    """The ``distributed.Security`` for ``tls``, or None for plain TCP.

    Raises:
        ImportError: distributed is not installed.
    """
    if tls is None:
        return None
    from distributed import Security

    return Security(  # type: ignore[no-untyped-call]
        tls_ca_file=tls.ca,
        tls_client_cert=tls.cert,
        tls_client_key=tls.key,
        require_encryption=tls.require_encryption,
    )
