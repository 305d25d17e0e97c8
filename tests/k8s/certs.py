"""The testbed's PKI, made with openssl: a CA, serving certificates, the aggregator's front-proxy
client certificate and the service-account key pair. Good for one day, on 127.0.0.1 only."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def signed(directory: Path, name: str, subject: str, alt_names: str | None) -> None:
    key, csr, crt = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    _openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        subject,
    )
    extensions = directory / f"{name}.ext"
    lines = [
        "basicConstraints=CA:FALSE",
        "keyUsage=digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
    ]
    if alt_names:
        lines.append(f"subjectAltName={alt_names}")
    extensions.write_text("\n".join(lines) + "\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(directory / "ca.crt"),
        "-CAkey",
        str(directory / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(crt),
        "-days",
        "1",
        "-extfile",
        str(extensions),
    )


def make_pki(directory: Path, service_ip: str, address: str = "127.0.0.1") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(directory / "ca.key"),
        "-out",
        str(directory / "ca.crt"),
        "-days",
        "1",
        "-subj",
        "/CN=mlscale-testbed-ca",
    )
    signed(
        directory,
        "apiserver",
        "/CN=kube-apiserver",
        f"IP:127.0.0.1,IP:{address},IP:{service_ip},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc",
    )
    signed(directory, "front-proxy", "/CN=front-proxy", None)
    # The API server's identity towards kubelets (exec, logs, port-forward), which authorize it.
    signed(directory, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", None)
    signed(directory, "metrics", "/CN=metrics-server", "IP:127.0.0.1,DNS:localhost")
    _openssl("genrsa", "-out", str(directory / "sa.key"), "2048")
    _openssl("rsa", "-in", str(directory / "sa.key"), "-pubout", "-out", str(directory / "sa.pub"))
