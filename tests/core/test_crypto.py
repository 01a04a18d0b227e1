from __future__ import annotations

import base64
import os

import pytest
from django.db import connection

from freshloop.core import crypto
from freshloop.core.crypto import CryptoError, KeyRing
from freshloop.core.models import OutboxMessage


def _key() -> bytes:
    return os.urandom(32)


class TestKeyRing:
    def test_round_trip_and_random_nonce(self) -> None:
        ring = KeyRing(keys={"k1": _key()}, active_key_id="k1", blind_index_key=b"b")
        first, second = ring.encrypt("13800138000"), ring.encrypt("13800138000")
        assert first != second  # a fresh nonce each time: equal values do not look equal
        assert ring.decrypt(first) == "13800138000"
        assert first.startswith("v1:k1:")

    def test_tampering_is_detected(self) -> None:
        ring = KeyRing(keys={"k1": _key()}, active_key_id="k1", blind_index_key=b"b")
        token = ring.encrypt("secret")
        raw = bytearray(base64.urlsafe_b64decode(token.split(":")[2]))
        raw[-1] ^= 1
        forged = "v1:k1:" + base64.urlsafe_b64encode(bytes(raw)).decode()
        with pytest.raises(CryptoError):
            ring.decrypt(forged)
        with pytest.raises(CryptoError):
            ring.decrypt("plain text")

    def test_rotation_reads_old_keys_and_writes_with_the_new_one(self) -> None:
        old_key, new_key = _key(), _key()
        before = KeyRing(keys={"k1": old_key}, active_key_id="k1", blind_index_key=b"b")
        sealed_with_old = before.encrypt("hello")
        after = KeyRing(
            keys={"k1": old_key, "k2": new_key}, active_key_id="k2", blind_index_key=b"b"
        )
        assert after.decrypt(sealed_with_old) == "hello"
        assert after.needs_rotation(sealed_with_old)
        assert after.encrypt("hello").startswith("v1:k2:")
        retired = KeyRing(keys={"k2": new_key}, active_key_id="k2", blind_index_key=b"b")
        with pytest.raises(CryptoError, match="not in the key ring"):
            retired.decrypt(sealed_with_old)

    def test_blind_index_is_keyed_and_purpose_bound(self) -> None:
        ring = KeyRing(keys={"k1": _key()}, active_key_id="k1", blind_index_key=b"one")
        other = KeyRing(keys={"k1": _key()}, active_key_id="k1", blind_index_key=b"two")
        assert ring.blind_index("x", purpose="phone") == ring.blind_index("x", purpose="phone")
        assert ring.blind_index("x", purpose="phone") != ring.blind_index("x", purpose="email")
        assert ring.blind_index("x", purpose="phone") != other.blind_index("x", purpose="phone")


class TestMaskPhone:
    def test_mainland_and_foreign(self) -> None:
        assert crypto.mask_phone("+8613812345678") == "138****5678"
        assert crypto.mask_phone("+14155550123") == "+14****0123"


@pytest.mark.django_db
class TestEncryptedTextField:
    def test_unreadable_in_the_database_and_readable_through_the_model(self) -> None:
        message = OutboxMessage.objects.create(
            channel="sms",
            destination="+8613900001111",
            payload={},
            next_attempt_at="2026-01-01T00:00:00Z",
            created_at="2026-01-01T00:00:00Z",
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT destination FROM core_outboxmessage WHERE id = %s", [message.pk])
            raw = cursor.fetchone()[0]
        assert "13900001111" not in raw
        assert raw.startswith("v1:")
        assert OutboxMessage.objects.get(pk=message.pk).destination == "+8613900001111"


@pytest.mark.django_db
class TestPiiRotate:
    def test_reseals_old_values_with_the_active_key(self, settings: object) -> None:
        from dataclasses import replace

        from django.core.management import call_command

        from freshloop.core.models import AuditLog

        # given a value sealed under the original key
        original = settings.FRESHLOOP  # type: ignore[attr-defined]
        message = OutboxMessage.objects.create(
            channel="sms",
            destination="+8613900002222",
            payload={},
            next_attempt_at="2026-01-01T00:00:00Z",
            created_at="2026-01-01T00:00:00Z",
        )
        # when a new key becomes active and the rotation runs
        rotated = replace(
            original,
            pii_keys={**original.pii_keys, "k-2027": _key()},
            pii_active_key_id="k-2027",
        )
        settings.FRESHLOOP = rotated  # type: ignore[attr-defined]
        crypto.key_ring.cache_clear()
        call_command("pii_rotate", batch_size=1)
        # then the stored ciphertext names the new key and still decrypts
        with connection.cursor() as cursor:
            cursor.execute("SELECT destination FROM core_outboxmessage WHERE id = %s", [message.pk])
            assert cursor.fetchone()[0].startswith("v1:k-2027:")
        assert OutboxMessage.objects.get(pk=message.pk).destination == "+8613900002222"
        assert AuditLog.objects.filter(action="pii.rotate").exists()
        # and the old key can now be retired
        settings.FRESHLOOP = replace(rotated, pii_keys={"k-2027": rotated.pii_keys["k-2027"]})  # type: ignore[attr-defined]
        crypto.key_ring.cache_clear()
        assert OutboxMessage.objects.get(pk=message.pk).destination == "+8613900002222"
