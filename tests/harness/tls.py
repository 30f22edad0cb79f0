"""A self-signed certificate for 127.0.0.1, made with the ``openssl`` command: what an HTTPS
index on loopback serves, and what no system trust store holds (a test that wants it trusted
names ``cert`` as pip's ``cert`` / ``PIP_CERT``)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificate:
    cert: Path  # PEM: the certificate, which is its own CA
    key: Path  # PEM: its private key

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def self_signed(directory: Path) -> Certificate | None:
    """A new certificate for ``IP:127.0.0.1`` in ``directory``; None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    made = Certificate(directory / "cert.pem", directory / "key.pem")
    args = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
    names = ["-subj", "/CN=overlock test index", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        [openssl, *args.split(), *names, "-keyout", str(made.key), "-out", str(made.cert)],
        check=True,
        capture_output=True,
    )
    return made
