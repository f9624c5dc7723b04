"""The DNS names and IP addresses a TLS certificate is for (its subjectAltName), read from
the PEM file's first certificate: the default allowlist of Host names of the dashboard on
the TLS listener. Pure: bytes in, names out. `ssl` offers this only for a peer's
certificate, after a handshake, so a few lines of DER walking do it here: tag, length,
value, down the path Certificate > tbsCertificate > [3] extensions > subjectAltName.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress

__all__ = ["CertificateError", "certificate_names"]

_SAN_OID = bytes.fromhex("551d11")  # 2.5.29.17
_DNS_NAME, _IP_ADDRESS = 0x82, 0x87  # GeneralName [2] and [7], primitive
_EXTENSIONS = 0xA3  # [3] EXPLICIT, in tbsCertificate
_BEGIN, _END = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"


class CertificateError(ValueError):
    """Not a PEM certificate this parser understands."""


def certificate_names(pem: bytes) -> list[str]:
    """The subjectAltName DNS names (wildcards left out: a Host is one name) and IP
    addresses (IPv6 in brackets) of the first certificate in *pem*, in their order."""
    start, end = pem.find(_BEGIN), pem.find(_END)
    if start < 0 or end < start:
        raise CertificateError("no PEM certificate")
    try:
        der = base64.b64decode(b"".join(pem[start + len(_BEGIN):end].split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateError("the PEM certificate is not base64") from None
    try:
        return _names(der)
    except (IndexError, ValueError) as exc:
        raise CertificateError(f"malformed certificate: {exc}") from None


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the element at *pos*."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4:
            raise ValueError("unsupported length")
        length = int.from_bytes(der[pos:pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("truncated")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    found = []
    while start < end:
        element = _tlv(der, start)
        found.append(element)
        start = element[2]
    return found


def _names(der: bytes) -> list[str]:
    _, start, end = _tlv(der, 0)  # Certificate
    _, start, end = _tlv(der, start)  # tbsCertificate
    for tag, value, _ in _children(der, start, end):
        if tag != _EXTENSIONS:
            continue
        _, start, end = _tlv(der, value)  # SEQUENCE OF Extension
        for _, ext_start, ext_end in _children(der, start, end):
            parts = _children(der, ext_start, ext_end)  # OID, [critical], OCTET STRING
            if der[parts[0][1]:parts[0][2]] == _SAN_OID:
                _, start, end = _tlv(der, parts[-1][1])  # GeneralNames
                return [n for n in (_name(der, *g) for g in _children(der, start, end)) if n]
    return []


def _name(der: bytes, tag: int, start: int, end: int) -> str | None:
    value = der[start:end]
    if tag == _DNS_NAME:
        name = value.decode("ascii", "replace").lower()
        return None if "*" in name else name
    if tag == _IP_ADDRESS and len(value) in (4, 16):
        address = ipaddress.ip_address(value)
        return f"[{address}]" if address.version == 6 else str(address)
    return None
