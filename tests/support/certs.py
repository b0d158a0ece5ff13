"""Throwaway PKI for TLS tests, made with the openssl CLI."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_client_cert: Path
    other_client_key: Path


def _run(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _ca(d: Path, name: str) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.crt"
    _run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
    )
    return cert, key


def _leaf(d: Path, name: str, ca: tuple[Path, Path], san: str | None, usage: str) -> tuple[Path, Path]:
    key, csr, cert, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt", d / f"{name}.ext"
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    lines = [f"extendedKeyUsage={usage}"] + ([f"subjectAltName={san}"] if san else [])
    ext.write_text("\n".join(lines) + "\n")
    _run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return cert, key


def make_pki(d: Path) -> Pki:
    ca = _ca(d, "ca")
    other = _ca(d, "other-ca")
    server = _leaf(d, "server", ca, "DNS:localhost,IP:127.0.0.1", "serverAuth")
    client = _leaf(d, "keda-operator", ca, None, "clientAuth")
    rogue = _leaf(d, "rogue", other, None, "clientAuth")
    return Pki(ca[0], server[0], server[1], client[0], client[1], other[0], rogue[0], rogue[1])
