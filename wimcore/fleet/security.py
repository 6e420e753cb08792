"""Who may drive the fleet: a remote Dask scheduler only over TLS with client certificates.

A Dask scheduler runs whatever its clients send (pickled functions), so whoever reaches its
port runs code as the workers' user. A remote scheduler is therefore joined over ``tls://``
with Dask's own :class:`distributed.security.Security` (a CA, this client's certificate
and key, encryption required): the scheduler and workers, started with the same CA and
``--tls-*`` options, refuse peers without a certificate of that CA. A plain ``tcp://``
address that is not a loopback address is refused *before any connection is attempted*,
unless the caller says ``insecure=True`` (a network it trusts, on purpose).

Nothing here imports Dask at module level: the check runs before a cluster is touched.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from wimcore.fleet.errors import ClusterError, InsecureSchedulerError

#: Address schemes of Dask's comms that encrypt (``tls``, ``wss``) and that do not.
SECURE_SCHEMES = frozenset({"tls", "wss"})
PLAIN_SCHEMES = frozenset({"tcp", "ws", "ucx"})
LOCAL_SCHEMES = frozenset({"inproc"})


@dataclass(frozen=True)
class TlsFiles:
    """The client's TLS material: the CA that signed the cluster's certificates, and this
    client's own certificate and private key (PEM files; key and certificate may be one)."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def given(self) -> bool:
        """True when any of the three was given."""
        return any((self.ca, self.cert, self.key))


def split_address(address: str) -> tuple[str, str]:
    """``(scheme, host)`` of a Dask address (``tcp`` when no scheme is written)."""
    text = address if "://" in address else f"tcp://{address}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    if not host:
        raise ClusterError(f"{address}: not a Dask scheduler address (use tls://HOST:PORT)")
    return scheme, host


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine's loopback (``127.0.0.0/8``, ``::1``,
    ``localhost``). A name is resolved (a DNS lookup, never a connection to the host);
    a name that does not resolve is not loopback."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addrs = {str(info[4][0]).split("%", 1)[0] for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a).is_loopback for a in addrs)


def check_scheduler(address: str, tls: TlsFiles, insecure: bool = False) -> str:
    """Refuse an address this client must not join, before any connection; returns its
    scheme. ``tcp://`` (or ``ws://``, ``ucx://``) to a host other than loopback needs
    ``insecure``; ``tls://`` needs TLS files (given, or in Dask's configuration); TLS
    files with a plain address are a contradiction, refused too."""
    scheme, host = split_address(address)
    if scheme in SECURE_SCHEMES:
        if not tls.given() and not _configured_tls():
            raise ClusterError(
                f"{address}: a TLS scheduler needs this client's certificate: give "
                "--tls-ca FILE --tls-cert FILE --tls-key FILE (or set Dask's "
                "distributed.comm.tls.ca-file and distributed.comm.tls.client.cert/key)")
        missing = [f for f in (tls.ca, tls.cert, tls.key) if f and not os.access(f, os.R_OK)]
        if missing:
            raise ClusterError(f"cannot read the TLS file(s) {', '.join(missing)}")
        if tls.given() and not (tls.ca and tls.cert):
            raise ClusterError("TLS needs --tls-ca (the cluster's CA) and --tls-cert (this "
                               "client's certificate; --tls-key unless the key is in it)")
        return scheme
    if scheme in LOCAL_SCHEMES:
        return scheme
    if scheme not in PLAIN_SCHEMES:
        raise ClusterError(f"{address}: unknown Dask address scheme {scheme!r} "
                           "(use tls://HOST:PORT)")
    if tls.given():
        raise ClusterError(f"{address}: TLS files were given for a plain {scheme}:// address "
                           f"(write tls://{host}:PORT: the scheduler must listen with TLS)")
    if not insecure and not is_loopback(host):
        raise InsecureSchedulerError(
            f"{address}: refused: a Dask scheduler runs whatever its clients send, so on "
            f"plain {scheme}:// anyone who reaches {host} runs code as the workers' user "
            "(and can read or rewrite every image). Start the scheduler and workers with "
            "TLS and join with --scheduler tls://HOST:PORT --tls-ca --tls-cert --tls-key "
            "(see docs/guide/fleet-security.md), or give --insecure on a network you trust")
    return scheme


def _configured_tls() -> bool:
    """True when Dask's configuration names a CA and a client certificate."""
    import dask

    ca = dask.config.get("distributed.comm.tls.ca-file", None)
    cert = dask.config.get("distributed.comm.tls.client.cert", None)
    return bool(ca and cert)


def client_security(tls: TlsFiles) -> Any:
    """Dask's ``Security`` for this client, encryption required (Dask's configuration
    fills what is not given)."""
    from distributed.security import Security

    kwargs: dict[str, Any] = {"require_encryption": True}
    if tls.ca:
        kwargs["tls_ca_file"] = tls.ca
    if tls.cert:
        kwargs["tls_client_cert"] = tls.cert
    if tls.key:
        kwargs["tls_client_key"] = tls.key
    return Security(**kwargs)  # type: ignore[no-untyped-call]
