from __future__ import annotations

import base64
from pathlib import Path

import pytest

from config.env import ConfigurationError, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("FRESHLOOP_") or name in {"DATABASE_URL", "REDIS_URL"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("FRESHLOOP_DATA_DIR", str(tmp_path))
    return monkeypatch


def _key() -> str:
    return base64.urlsafe_b64encode(b"k" * 32).decode()


class TestLoadSettings:
    def test_development_defaults_are_safe_and_self_contained(
        self, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        config = load_settings()
        assert config.debug is False
        assert config.allowed_hosts == ["127.0.0.1", "localhost"]
        assert config.database_url.startswith("sqlite:///")
        # keys are generated once per checkout and reused
        assert (tmp_path / "secret_key").exists()
        assert load_settings().secret_key == config.secret_key

    def test_production_refuses_to_start_without_secrets(
        self, clean_env: pytest.MonkeyPatch
    ) -> None:
        clean_env.setenv("FRESHLOOP_ENV", "production")
        with pytest.raises(ConfigurationError, match="FRESHLOOP_SECRET_KEY"):
            load_settings()
        clean_env.setenv("FRESHLOOP_SECRET_KEY", "s" * 50)
        with pytest.raises(ConfigurationError, match="FRESHLOOP_PII_KEYS"):
            load_settings()

    def test_production_with_secrets_is_tls_hardened(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("FRESHLOOP_ENV", "production")
        clean_env.setenv("FRESHLOOP_SECRET_KEY", "s" * 50)
        clean_env.setenv("FRESHLOOP_PII_KEYS", f"2026a:{_key()}")
        clean_env.setenv("FRESHLOOP_BLIND_INDEX_KEY", "blind")
        config = load_settings()
        assert config.behind_tls is True
        assert config.sms_sandbox_echo is False
        assert config.pii_active_key_id == "2026a"

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("FRESHLOOP_DEBUG", "maybe", "boolean"),
            ("FRESHLOOP_MAX_BODY_BYTES", "lots", "integer"),
            ("FRESHLOOP_ENV", "staging", "one of"),
            ("FRESHLOOP_PII_KEYS", "nokeyid", "key id"),
            ("FRESHLOOP_PII_KEYS", "k1:c2hvcnQ=", "32 bytes"),
            ("FRESHLOOP_WECHAT_OAUTH", "wechat", "APP_ID"),
            ("FRESHLOOP_DATAHUB_AUTOFLUSH", "ja", "FRESHLOOP_DATAHUB_AUTOFLUSH must be a boolean"),
            ("FRESHLOOP_DATAHUB_FLUSH_INTERVAL", "0", "FLUSH_INTERVAL must be >= 0.05"),
            ("FRESHLOOP_DATAHUB_FLUSH_INTERVAL", "nan", "FLUSH_INTERVAL must be >="),
            ("FRESHLOOP_DATAHUB_FLUSH_INTERVAL", "soon", "must be a number"),
            ("FRESHLOOP_DATAHUB_DEDUPE_DAYS", "-1", "DEDUPE_DAYS must be >= 1"),
        ],
    )
    def test_bad_values_are_named(
        self, clean_env: pytest.MonkeyPatch, name: str, value: str, message: str
    ) -> None:
        clean_env.setenv(name, value)
        with pytest.raises(ConfigurationError, match=message):
            load_settings()

    def test_key_ring_with_rotation(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("FRESHLOOP_PII_KEYS", f"old:{_key()},new:{_key()}")
        clean_env.setenv("FRESHLOOP_PII_ACTIVE_KEY_ID", "new")
        config = load_settings()
        assert set(config.pii_keys) == {"old", "new"}
        assert config.pii_active_key_id == "new"
        clean_env.setenv("FRESHLOOP_PII_ACTIVE_KEY_ID", "missing")
        with pytest.raises(ConfigurationError, match="not in"):
            load_settings()
