"""Credential profiles sent to one poller, readable by that poller only.

A poller makes an X25519 key pair the first time it runs and keeps the private key in its
state directory (``poller.key``, 0600, in a 0700 directory); it registers the public key
with the servers on its token (``POST /api/v1/poller/key``). A server sends the credential
profiles of the site's schedules sealed to that key: ECIES over X25519 (an ephemeral key
per message), HKDF-SHA256 over the shared secret (salt: both public keys) and AES-256-GCM,
with the site and schedule name as associated data so a sealed profile list opens only for
the schedule it was sealed for. Only the holder of the private key opens it; a server, a
proxy or a log in between sees ciphertext.

Built from ``cryptography`` primitives (present since long before the version this project
requires), not RFC 9180 HPKE, which ``cryptography`` offers only in recent releases.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cmdb.server.private_files import FILE_MODE, private_dir

ALG = "X25519-HKDF-SHA256-AES256GCM"
KEY_FILE = "poller.key"
_INFO = b"cmdb poller credentials v1"


class SealError(ValueError):
    """A public key that is not one, or a sealed value this key cannot open."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def encode_public(key: X25519PublicKey) -> str:
    """The public key as sent to the servers: 32 raw bytes, base64url without padding."""
    return _b64(public_bytes(key))


def decode_public(text: Any) -> X25519PublicKey:
    """A public key from its ``encode_public`` text (``SealError`` when it is not one)."""
    try:
        raw = _unb64(text)
        if len(raw) != 32:
            raise ValueError("not 32 bytes")
        return X25519PublicKey.from_public_bytes(raw)
    except (TypeError, ValueError) as exc:
        raise SealError("'public_key' must be an X25519 public key: 32 bytes, base64url") from exc


def fingerprint(key: X25519PublicKey) -> str:
    """``sha256:`` and the first 16 bytes of the key's SHA-256, hex: how logs, the API and
    an operator name a poller key."""
    return "sha256:" + hashlib.sha256(public_bytes(key)).hexdigest()[:32]


def context(site: str, schedule: str) -> bytes:
    """The associated data of one schedule's profiles: they open for that site and
    schedule only."""
    return f"cmdb/{site}\x00{schedule}".encode()


def _key(shared: bytes, epk: bytes, rpk: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=epk + rpk, info=_INFO).derive(shared)


def seal(payload: Any, recipient: X25519PublicKey, aad: bytes) -> dict[str, str]:
    """``payload`` (JSON-able) sealed to ``recipient``: {alg, kid, epk, nonce, ct}."""
    ephemeral = X25519PrivateKey.generate()
    epk = public_bytes(ephemeral.public_key())
    rpk = public_bytes(recipient)
    try:
        shared = ephemeral.exchange(recipient)
    except ValueError as exc:  # a low-order point: no shared secret
        raise SealError("that public key cannot receive sealed data") from exc
    nonce = os.urandom(12)
    ct = AESGCM(_key(shared, epk, rpk)).encrypt(nonce, json.dumps(payload).encode(), aad)
    return {
        "alg": ALG,
        "kid": fingerprint(recipient),
        "epk": _b64(epk),
        "nonce": _b64(nonce),
        "ct": _b64(ct),
    }


def open_sealed(sealed: Any, private: X25519PrivateKey, aad: bytes) -> Any:
    """What ``seal`` sealed to this key with this associated data; ``SealError`` when it
    was sealed to another key, for another schedule, or altered."""
    if not isinstance(sealed, dict) or sealed.get("alg") != ALG:
        raise SealError(f"sealed credentials must use {ALG}")
    mine = fingerprint(private.public_key())
    if sealed.get("kid") != mine:
        raise SealError(
            f"the credentials were sealed to key {sealed.get('kid')}, not to this poller's "
            f"key {mine}"
        )
    try:
        epk = _unb64(sealed["epk"])
        shared = private.exchange(X25519PublicKey.from_public_bytes(epk))
        key = _key(shared, epk, public_bytes(private.public_key()))
        plain = AESGCM(key).decrypt(_unb64(sealed["nonce"]), _unb64(sealed["ct"]), aad)
        return json.loads(plain)
    except (KeyError, TypeError, ValueError, InvalidTag) as exc:
        raise SealError("sealed credentials could not be opened (altered, or not ours)") from exc


def load_or_create_key(state_dir: str | Path) -> X25519PrivateKey:
    """The poller's private key from ``state_dir/poller.key`` (PKCS#8 PEM), made on first
    use: the directory 0700, the file 0600, created exclusively so two pollers starting in
    one directory end with one key. ``SealError`` when the file is not such a key."""
    path = private_dir(state_dir) / KEY_FILE
    if not path.exists():
        key = X25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # written whole to a private temporary file, then linked into place: the key file
        # is never seen half-written, and of two pollers making one at once, one wins
        fd, tmp = tempfile.mkstemp(prefix=".poller-key-", dir=path.parent)  # 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another poller made it first: read that one
        finally:
            os.unlink(tmp)
    os.chmod(path, FILE_MODE)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SealError(f"{path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, X25519PrivateKey):
        raise SealError(f"{path} holds a {type(key).__name__}, not an X25519 key")
    return key
