"""A fleet that only its owner can drive: TLS schedulers, refused plain ones.

A real ``dask scheduler`` and ``dask worker`` listen with TLS on 127.0.0.1, with a CA and
certificates made here with ``openssl``; ``wimcore fleet run --scheduler tls://...`` runs
over it and the catalog records it; a client without a certificate of that CA is refused
by the scheduler. A plain ``tcp://`` scheduler beyond loopback is refused before any
connection: a process-wide audit hook blocks (and records) every ``socket.connect`` to a
non-loopback address, so no test traffic ever leaves the loopback.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.conftest import (
    BIN,
    LCU,
    SSU,
    DaskCluster,
    FleetEnv,
    _spawn,
    digest,
    free_port,
    staged_keys,
)
from tests.fleet.test_distributed import sql

#: Non-loopback connects seen by the audit hook (the hook refuses each one).
_OUTSIDE: list[str] = []
_HOOKED = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    address = args[1]
    if not isinstance(address, tuple) or not address:
        return  # a UNIX socket
    host = str(address[0]).split("%", 1)[0]
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    _OUTSIDE.append(host)
    raise PermissionError(f"test guard: no connection beyond loopback ({host})")


@pytest.fixture
def loopback_only() -> Iterator[list[str]]:
    """Refuse (and list) every connect beyond loopback made in this process."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED = True
    _OUTSIDE.clear()
    yield _OUTSIDE
    _OUTSIDE.clear()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)


def _make_cert(folder: Path, ca: str, name: str) -> None:
    """A certificate of ``ca`` for 127.0.0.1, usable by servers and clients."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
             cwd=folder)
    (folder / f"{name}.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
             f"{name}.ext", cwd=folder)


@dataclass
class Pki:
    """The cluster's CA and certificates, and a stranger's CA and certificate."""

    folder: Path

    def files(self, name: str, ca: str = "ca") -> tuple[str, str, str]:
        return (str(self.folder / f"{ca}.pem"), str(self.folder / f"{name}.pem"),
                str(self.folder / f"{name}.key"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    _make_ca(folder, "ca")
    for name in ("node", "client"):
        _make_cert(folder, "ca", name)
    _make_ca(folder, "stranger-ca")
    _make_cert(folder, "stranger-ca", "stranger")
    return Pki(folder)


@pytest.fixture(scope="module")
def tls_cluster(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """``dask scheduler`` and one ``dask worker``, both TLS-only, on 127.0.0.1."""
    from distributed import Client
    from distributed.security import Security

    folder = tmp_path_factory.mktemp("dask-tls")
    ca, cert, key = pki.files("node")
    tls = ["--tls-ca-file", ca, "--tls-cert", cert, "--tls-key", key]
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    sched = _spawn([str(BIN / "dask"), "scheduler", "--protocol", "tls", "--host",
                    "127.0.0.1", "--port", str(port), "--no-dashboard", "--no-show", *tls],
                   folder / "scheduler.log")
    cluster = DaskCluster(address, sched, logs=folder)
    try:
        cluster.workers.append(_spawn(
            [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--memory-limit",
             "2GiB", "--host", "127.0.0.1", "--no-dashboard", "--name", "tls0", *tls],
            folder / "worker0.log"))
        sec = Security(tls_ca_file=ca, tls_client_cert=pki.files("client")[1],
                       tls_client_key=pki.files("client")[2], require_encryption=True)
        with Client(address, security=sec, timeout="60s") as client:
            client.wait_for_workers(1, timeout=90)
        yield cluster
    finally:
        cluster.kill()


def test_fleet_run_over_tls_is_serviced_and_recorded(fleet: FleetEnv, pki: Pki,
                                                     tls_cluster: DaskCluster) -> None:
    ca, cert, key = pki.files("client")
    proc = fleet.cli("run", "--scheduler", tls_cluster.address, "--tls-ca", ca,
                     "--tls-cert", cert, "--tls-key", key, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "successful" and doc["scheduler"] == tls_cluster.address
    assert all(w.startswith("tls://127.0.0.1:") for w in doc["workers"])
    assert sorted(r["status"] for r in doc["images"]) == ["staged"] * 4
    for p in fleet.wims():
        assert staged_keys(p) == {SSU, LCU}
    assert sql(fleet.catalog_path, "SELECT status, scheduler FROM runs") == \
        [["successful", tls_cluster.address]]
    assert sql(fleet.catalog_path, "SELECT DISTINCT status FROM run_images") == [["staged"]]


def test_fleet_run_over_tls_from_dask_configuration(fleet: FleetEnv, pki: Pki,
                                                    tls_cluster: DaskCluster) -> None:
    """No --tls-* options: the CA and certificate come from Dask's configuration."""
    import dask

    from wimcore.fleet.runner import RunOptions, run_fleet

    ca, cert, key = pki.files("client")
    with dask.config.set({"distributed.comm.tls.ca-file": ca,
                          "distributed.comm.tls.client.cert": cert,
                          "distributed.comm.tls.client.key": key}), fleet.open() as cat:
        result = run_fleet(cat, RunOptions(scheduler=tls_cluster.address))
    assert result.status == "successful", result.note
    assert sorted(r["status"] for r in result.images) == ["staged"] * 4


def test_client_without_a_valid_certificate_is_refused(fleet: FleetEnv, pki: Pki,
                                                       tls_cluster: DaskCluster) -> None:
    """A certificate of another CA: the scheduler refuses the handshake, nothing runs."""
    before = {p: digest(p) for p in fleet.wims()}
    ca, _, _ = pki.files("client")
    _, cert, key = pki.files("stranger", ca="stranger-ca")
    proc = fleet.cli("run", "--scheduler", tls_cluster.address, "--tls-ca", ca,
                     "--tls-cert", cert, "--tls-key", key)
    assert proc.returncode != 0
    assert "cannot reach the Dask scheduler" in proc.stderr, proc.stderr
    assert {p: digest(p) for p in fleet.wims()} == before
    # the run is recorded as failed, its images as never started (not "cancelled")
    assert sql(fleet.catalog_path, "SELECT status FROM runs") == [["failed"]]
    assert sql(fleet.catalog_path, "SELECT DISTINCT status FROM run_images") == \
        [["never-started"]]
    status = fleet.cli("status")
    assert "last run: never started" in status.stdout and "cancelled" not in status.stdout
    assert "scheduler unreachable" in status.stdout


def _handshake(address: str, ca: str, cert: str | None = None,
               key: str | None = None) -> str:
    """Open TLS to the scheduler as a client with (or without) a certificate; returns
    "refused" when the scheduler ends the handshake, else "accepted"."""
    import socket
    import ssl

    host, port = address.removeprefix("tls://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(cert, key)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw) as tls:
                tls.settimeout(2)
                try:
                    data = tls.recv(1)
                except TimeoutError:
                    return "accepted"  # the scheduler waits for Dask's first message
                return "accepted" if data else "refused"
        except (ssl.SSLError, ConnectionError):
            return "refused"


def test_scheduler_refuses_a_client_without_certificate(pki: Pki,
                                                        tls_cluster: DaskCluster) -> None:
    """TLS without a client certificate, or with a stranger's: the scheduler refuses."""
    ca = pki.files("client")[0]
    assert _handshake(tls_cluster.address, ca) == "refused"
    assert _handshake(tls_cluster.address, ca, *pki.files("stranger", ca="stranger-ca")[1:]
                      ) == "refused"
    assert _handshake(tls_cluster.address, ca, *pki.files("client")[1:]) == "accepted"


def test_plain_tcp_beyond_loopback_is_refused_before_connecting(
        fleet: FleetEnv, loopback_only: list[str]) -> None:
    """No socket is opened towards 10.255.255.1: the typed error comes first."""
    from wimcore.fleet.errors import InsecureSchedulerError
    from wimcore.fleet.runner import RunOptions, run_fleet

    before = {p: digest(p) for p in fleet.wims()}
    with fleet.open() as cat:
        with pytest.raises(InsecureSchedulerError, match="runs code as the workers' user"):
            run_fleet(cat, RunOptions(scheduler="tcp://10.255.255.1:8786"))
        assert cat.runs() == []  # refused before anything was recorded
    assert loopback_only == []  # and before any connection was attempted
    assert {p: digest(p) for p in fleet.wims()} == before


def test_cli_refuses_plain_tcp_and_says_why(fleet: FleetEnv, loopback_only: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from wimcore.cli.app import main

    with pytest.raises(SystemExit) as exited:
        main(["fleet", "--catalog", str(fleet.catalog_path), "run",
              "--scheduler", "tcp://10.255.255.1:8786"])
    assert exited.value.code == 1
    text = capsys.readouterr().err
    assert "refused" in text and "runs code as the workers' user" in text
    assert "--insecure" in text and "tls://" in text
    assert loopback_only == []


def test_scheduler_address_rules() -> None:
    from wimcore.errors import WimcoreError
    from wimcore.fleet.errors import InsecureSchedulerError
    from wimcore.fleet.security import TlsFiles, check_scheduler

    none = TlsFiles()
    for ok in ("tcp://127.0.0.1:8786", "127.0.0.1:8786", "tcp://[::1]:8786",
               "tcp://localhost:8786", "inproc://x/1/2"):
        check_scheduler(ok, none)
    for bad in ("tcp://10.255.255.1:8786", "10.255.255.1:8786", "ws://192.0.2.1:8786",
                "tcp://[2001:db8::1]:8786"):
        with pytest.raises(InsecureSchedulerError):
            check_scheduler(bad, none)
        assert check_scheduler(bad, none, insecure=True) != "tls"  # on purpose: allowed
    with pytest.raises(WimcoreError, match="needs this client's certificate"):
        check_scheduler("tls://10.255.255.1:8786", none)
    with pytest.raises(WimcoreError, match="plain tcp://"):
        check_scheduler("tcp://127.0.0.1:8786", TlsFiles(ca="/x", cert="/y"))
