"""TLS end to end (issue 16, item 4) with a CA this test makes: the server on HTTPS
(tls_cert/tls_key), the agent and the CLI trusting a private CA through --cafile /
CMDB_CAFILE, and mutual TLS (tls_client_ca): agent tokens only with a client
certificate the server verified, or no handshake at all without one (required)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cmdb.agent.client import send_report
from cmdb.server.cli.http import ApiClient, CliError
from tests.processes import ROOT, create_token, free_port
from tests.reports import agent_report

pytestmark = pytest.mark.e2e
NOW = datetime.datetime.now(datetime.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, cert: x509.Certificate, key) -> tuple[str, str]:
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path.with_suffix(".pem")), str(path.with_suffix(".key"))


def make_ca(path: Path, cn: str):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write(path, cert, key)
    return cert, key


def issue(path: Path, ca, cn: str, server: bool) -> tuple[str, str]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(minutes=5))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return _write(path, builder.sign(ca_key, hashes.SHA256()), key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d / "ca", "cmdb test CA")
    other = make_ca(d / "other-ca", "someone else's CA")
    server_cert, server_key = issue(d / "server", ca, "127.0.0.1", server=True)
    agent_cert, agent_key = issue(d / "agent", ca, "web1 agent", server=False)
    rogue_cert, rogue_key = issue(d / "rogue", other, "rogue agent", server=False)
    return {
        "ca": str(d / "ca.pem"),
        "other_ca": str(d / "other-ca.pem"),
        "server_cert": server_cert,
        "server_key": server_key,
        "agent_cert": agent_cert,
        "agent_key": agent_key,
        "rogue_cert": rogue_cert,
        "rogue_key": rogue_key,
    }


@contextmanager
def tls_server(data_dir: Path, pki: dict[str, str], client_auth: str | None):
    lines = [f'tls_cert = "{pki["server_cert"]}"', f'tls_key = "{pki["server_key"]}"']
    if client_auth:
        lines += [f'tls_client_ca = "{pki["ca"]}"', f'tls_client_auth = "{client_auth}"']
    (data_dir / "cmdb.toml").write_text("\n".join(lines) + "\n")
    port = free_port()
    log = open(data_dir / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "cmdb.server.cli", "server",
            "--listen", f"127.0.0.1:{port}",
            "--data-dir", str(data_dir),
            "--config", str(data_dir / "cmdb.toml"),
        ],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=pki["ca"])
    if client_auth == "required":
        context.load_cert_chain(pki["agent_cert"], pki["agent_key"])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2, context=context):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((data_dir / "server.log").read_text()) from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _get(url: str, context: ssl.SSLContext):
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def test_https_with_a_private_ca_for_server_agent_and_cli(tmp_path, pki, monkeypatch):
    with tls_server(tmp_path, pki, None) as url:
        status, headers, body = _get(url + "/healthz", ssl.create_default_context(cafile=pki["ca"]))
        assert status == 200 and body["status"] == "ok"
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert headers["Server"] == "cmdb"
        # without the CA the server is not trusted: no silent downgrade
        with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(url + "/healthz", ssl.create_default_context())
        token = create_token(tmp_path, "agent")
        untrusted = send_report(url, token, agent_report())
        assert untrusted.status is None and "CERTIFICATE_VERIFY_FAILED" in untrusted.message
        sent = send_report(url, token, agent_report(), cafile=pki["ca"])
        assert sent.status == 201, sent.message
        reader = create_token(tmp_path, "reader")
        monkeypatch.setenv("CMDB_CAFILE", pki["ca"])
        assert ApiClient(url, reader).get("/api/v1/cis")["total"] >= 1
        monkeypatch.delenv("CMDB_CAFILE")
        with pytest.raises(CliError, match="CERTIFICATE_VERIFY_FAILED"):
            ApiClient(url, reader).get("/api/v1/cis")
        assert ApiClient(url, reader, cafile=pki["ca"]).get("/api/v1/cis")["total"] >= 1
        # the real agent command, the CA from its flag
        run = subprocess.run(
            [
                sys.executable, "-m", "cmdb.agent", "run", "--once", "--server", url,
                "--cafile", pki["ca"], "--spool-dir", str(tmp_path / "spool"),
            ],
            # a token of its own: an agent token speaks for the first host it reported
            env={**os.environ, "CMDB_TOKEN": create_token(tmp_path, "agent")},
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr


def test_mutual_tls_agents_need_a_client_certificate(tmp_path, pki, monkeypatch):
    with tls_server(tmp_path, pki, "agents") as url:
        token = create_token(tmp_path, "agent")
        bare = send_report(url, token, agent_report(), cafile=pki["ca"])
        assert bare.status == 403 and "client certificate" in bare.message
        monkeypatch.setenv("CMDB_CLIENT_CERT", pki["agent_cert"])
        monkeypatch.setenv("CMDB_CLIENT_KEY", pki["agent_key"])
        sent = send_report(url, token, agent_report(), cafile=pki["ca"])
        assert sent.status == 201, sent.message
        # a certificate from another CA is refused at the handshake
        monkeypatch.setenv("CMDB_CLIENT_CERT", pki["rogue_cert"])
        monkeypatch.setenv("CMDB_CLIENT_KEY", pki["rogue_key"])
        rogue = send_report(url, token, agent_report(), cafile=pki["ca"])
        assert rogue.status is None
        monkeypatch.delenv("CMDB_CLIENT_CERT")
        monkeypatch.delenv("CMDB_CLIENT_KEY")
        # people (CLI, browser) need no certificate in this mode
        reader = create_token(tmp_path, "reader")
        assert ApiClient(url, reader, cafile=pki["ca"]).get("/api/v1/cis")["total"] >= 1
        # the agent command with --cert/--key
        run = subprocess.run(
            [
                sys.executable, "-m", "cmdb.agent", "run", "--once", "--server", url,
                "--cafile", pki["ca"], "--cert", pki["agent_cert"], "--key", pki["agent_key"],
                "--spool-dir", str(tmp_path / "spool"),
            ],
            # a token of its own: an agent token speaks for the first host it reported
            env={**os.environ, "CMDB_TOKEN": create_token(tmp_path, "agent")},
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr


def test_required_client_certificates_end_at_the_handshake(tmp_path, pki):
    with tls_server(tmp_path, pki, "required") as url:
        bare = ssl.create_default_context(cafile=pki["ca"])
        with pytest.raises(OSError):
            _get(url + "/healthz", bare)
        with_cert = ssl.create_default_context(cafile=pki["ca"])
        with_cert.load_cert_chain(pki["agent_cert"], pki["agent_key"])
        assert _get(url + "/healthz", with_cert)[0] == 200
