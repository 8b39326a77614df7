"""A private certificate authority for HTTPS test servers, and an app registration's certificate credential.

A self-signed server certificate is not enough for `requests`: urllib3 2.x
refuses a leaf that says CA:TRUE, and strict verification wants the key
identifiers that tie a leaf to its issuer. So a test server gets a leaf
(CA:FALSE, serverAuth, SAN localhost and 127.0.0.1) issued by a separate
test CA, and clients trust that CA's file, just as they would trust a
company's own CA in production.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALID = datetime.timedelta(days=2)
_SKEW = datetime.timedelta(minutes=5)  # not-before a little in the past: clocks of test machines differ


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class TestCA:
    """A CA certificate (`cafile`, PEM) and its key, which issues server certificates."""

    __test__ = False  # not a pytest test class despite its name

    cafile: Path
    _key: ec.EllipticCurvePrivateKey
    _certificate: x509.Certificate

    def issue(self, folder: Path, name: str = "localhost") -> tuple[Path, Path]:
        """A server certificate and key (PEM files in `folder`) for `name`, localhost and 127.0.0.1."""
        folder = Path(folder)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        dns_names = dict.fromkeys([name, "localhost"])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _SKEW)
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=True,
                    content_commitment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName(
                    [*(x509.DNSName(dns) for dns in dns_names), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        certfile, keyfile = folder / f"{name}.pem", folder / f"{name}.key"
        certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        keyfile.write_bytes(_pem_key(key))
        keyfile.chmod(0o600)
        return certfile, keyfile


def make_ca(folder: Path) -> TestCA:
    """A fresh test CA, its certificate written to `folder`/ca.pem."""
    folder = Path(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = _name("noarkpipe test CA")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cafile = folder / "ca.pem"
    cafile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return TestCA(cafile=cafile, _key=key, _certificate=certificate)


def make_app_certificate(folder: Path) -> Path:
    """A PEM file with an RSA private key and its self-signed certificate: an app registration's certificate credential.

    Entra ID signs nothing with it; the app signs its client assertion (a JWT) with the key,
    and the sign-in service checks that signature against the uploaded certificate.
    """
    folder = Path(folder)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    subject = _name("noarkpipe test app")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + _VALID)
        .sign(key, hashes.SHA256())
    )
    path = folder / "app.pem"
    path.write_bytes(_pem_key(key) + certificate.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o600)
    return path
