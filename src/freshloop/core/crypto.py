"""PII protection: AES-256-GCM encryption at rest and an HMAC-SHA256 blind index for lookup.

Ciphertext format: ``v1:<key id>:<base64url(nonce || ciphertext+tag)>``. The key id names the
key that sealed the value, so keys can rotate: new writes use the active key, old values stay
readable while their key is still in the ring, and `manage.py pii_rotate` re-seals them.

The blind index is a keyed hash of the *normalised* value: equal inputs give equal indexes, so
rows can be found by phone without the database ever holding the phone in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

_VERSION = "v1"
_NONCE_BYTES = 12


class CryptoError(ValueError):
    """A ciphertext is malformed, was tampered with, or its key is not in the ring."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    active_key_id: str
    blind_index_key: bytes

    def encrypt(self, plaintext: str, *, associated_data: bytes = b"") -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active_key_id]).encrypt(
            nonce, plaintext.encode("utf-8"), associated_data
        )
        token = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{_VERSION}:{self.active_key_id}:{token}"

    def decrypt(self, ciphertext: str, *, associated_data: bytes = b"") -> str:
        version, key_id, token = _split(ciphertext)
        if version != _VERSION:
            raise CryptoError(f"unknown ciphertext version {version!r}")
        key = self.keys.get(key_id)
        if key is None:
            raise CryptoError(f"key {key_id!r} is not in the key ring")
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
            plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated_data)
        except (InvalidTag, ValueError) as exc:
            raise CryptoError("ciphertext failed authentication") from exc
        return plain.decode("utf-8")

    def needs_rotation(self, ciphertext: str) -> bool:
        return _split(ciphertext)[1] != self.active_key_id

    def blind_index(self, normalised_value: str, *, purpose: str) -> str:
        """Keyed hash of a normalised value; `purpose` separates e.g. phones from emails."""
        message = f"{purpose}\x00{normalised_value}".encode()
        return hmac.new(self.blind_index_key, message, hashlib.sha256).hexdigest()


def _split(ciphertext: str) -> tuple[str, str, str]:
    parts = ciphertext.split(":", 2)
    if len(parts) != 3:
        raise CryptoError("not a FreshLoop ciphertext")
    return parts[0], parts[1], parts[2]


@lru_cache(maxsize=1)
def key_ring() -> KeyRing:
    """The process-wide key ring built from settings (cleared by tests that swap keys)."""
    config = settings.FRESHLOOP
    return KeyRing(
        keys=dict(config.pii_keys),
        active_key_id=config.pii_active_key_id,
        blind_index_key=config.blind_index_key,
    )


def encrypt(plaintext: str) -> str:
    return key_ring().encrypt(plaintext)


def decrypt(ciphertext: str) -> str:
    return key_ring().decrypt(ciphertext)


def blind_index(normalised_value: str, *, purpose: str) -> str:
    return key_ring().blind_index(normalised_value, purpose=purpose)


def mask_phone(e164: str) -> str:
    """+8613812345678 -> 138****5678 (mainland numbers); other numbers keep country code and last 4."""
    digits = e164.lstrip("+")
    if digits.startswith("86") and len(digits) == 13:
        local = digits[2:]
        return f"{local[:3]}****{local[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return f"+{digits[:2]}****{digits[-4:]}"
