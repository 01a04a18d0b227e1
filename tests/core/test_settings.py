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


def _production(env: pytest.MonkeyPatch) -> None:
    env.setenv("FRESHLOOP_ENV", "production")
    env.setenv("FRESHLOOP_SECRET_KEY", "s" * 50)
    env.setenv("FRESHLOOP_PII_KEYS", f"2026a:{_key()}")
    env.setenv("FRESHLOOP_BLIND_INDEX_KEY", "blind")


def _tencent_sms(env: pytest.MonkeyPatch) -> None:
    env.setenv("FRESHLOOP_SMS_PROVIDER", "tencent")
    env.setenv("FRESHLOOP_SMS_TENCENT_SECRET_ID", "AKID-x")
    env.setenv("FRESHLOOP_SMS_TENCENT_SECRET_KEY", "key-x")
    env.setenv("FRESHLOOP_SMS_TENCENT_SDK_APP_ID", "1400006666")
    env.setenv("FRESHLOOP_SMS_SIGN_NAME", "鲜环")
    env.setenv("FRESHLOOP_SMS_TEMPLATES", "login_code:1234567, live_reminder:7654321")
    env.setenv("FRESHLOOP_SMS_RECEIPT_TOKEN", "t" * 32)


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
        _tencent_sms(clean_env)
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
            ("FRESHLOOP_GROUPBUY_ATTRIBUTION_DAYS", "0", "ATTRIBUTION_DAYS must be >= 1"),
        ],
    )
    def test_bad_values_are_named(
        self, clean_env: pytest.MonkeyPatch, name: str, value: str, message: str
    ) -> None:
        clean_env.setenv(name, value)
        with pytest.raises(ConfigurationError, match=message):
            load_settings()

    def test_the_group_leader_attribution_window_is_read_from_the_environment(
        self, clean_env: pytest.MonkeyPatch
    ) -> None:
        assert load_settings().groupbuy.attribution_days == 30
        clean_env.setenv("FRESHLOOP_GROUPBUY_ATTRIBUTION_DAYS", "14")
        assert load_settings().groupbuy.attribution_days == 14

    def test_key_ring_with_rotation(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("FRESHLOOP_PII_KEYS", f"old:{_key()},new:{_key()}")
        clean_env.setenv("FRESHLOOP_PII_ACTIVE_KEY_ID", "new")
        config = load_settings()
        assert set(config.pii_keys) == {"old", "new"}
        assert config.pii_active_key_id == "new"
        clean_env.setenv("FRESHLOOP_PII_ACTIVE_KEY_ID", "missing")
        with pytest.raises(ConfigurationError, match="not in"):
            load_settings()


class TestSmsSettings:
    def test_the_sandbox_is_the_default_outside_production(
        self, clean_env: pytest.MonkeyPatch
    ) -> None:
        config = load_settings()
        assert config.sms_provider == "sandbox"
        assert config.sms_gateway.templates == {}

    def test_production_refuses_the_sandbox(self, clean_env: pytest.MonkeyPatch) -> None:
        _production(clean_env)
        with pytest.raises(ConfigurationError, match="FRESHLOOP_SMS_PROVIDER=sandbox"):
            load_settings()

    def test_a_real_provider_is_read_whole(self, clean_env: pytest.MonkeyPatch) -> None:
        _production(clean_env)
        _tencent_sms(clean_env)
        config = load_settings()
        assert config.sms_provider == "tencent"
        assert config.sms_gateway.templates == {
            "login_code": "1234567",
            "live_reminder": "7654321",
        }
        assert config.sms_gateway.sign_name == "鲜环"
        assert config.sms_gateway.tencent_endpoint == "https://sms.tencentcloudapi.com"

    @pytest.mark.parametrize(
        ("provider", "missing"),
        [
            ("aliyun", "FRESHLOOP_SMS_ALIYUN_ACCESS_KEY_ID"),
            ("aliyun", "FRESHLOOP_SMS_ALIYUN_ACCESS_KEY_SECRET"),
            ("tencent", "FRESHLOOP_SMS_TENCENT_SECRET_KEY"),
            ("tencent", "FRESHLOOP_SMS_TENCENT_SDK_APP_ID"),
            ("tencent", "FRESHLOOP_SMS_SIGN_NAME"),
            ("tencent", "FRESHLOOP_SMS_TEMPLATES"),
            ("tencent", "FRESHLOOP_SMS_RECEIPT_TOKEN"),
        ],
    )
    def test_production_names_every_missing_key(
        self, clean_env: pytest.MonkeyPatch, provider: str, missing: str
    ) -> None:
        _production(clean_env)
        _tencent_sms(clean_env)
        clean_env.setenv("FRESHLOOP_SMS_PROVIDER", provider)
        clean_env.setenv("FRESHLOOP_SMS_ALIYUN_ACCESS_KEY_ID", "LTAI-x")
        clean_env.setenv("FRESHLOOP_SMS_ALIYUN_ACCESS_KEY_SECRET", "secret-x")
        clean_env.delenv(missing)
        with pytest.raises(ConfigurationError, match=missing):
            load_settings()

    def test_a_template_map_without_the_login_code_is_refused(
        self, clean_env: pytest.MonkeyPatch
    ) -> None:
        _tencent_sms(clean_env)
        clean_env.setenv("FRESHLOOP_SMS_TEMPLATES", "live_reminder:1")
        with pytest.raises(ConfigurationError, match="login_code"):
            load_settings()

    @pytest.mark.parametrize("raw", ["login_code", "login_code:", ":123", "login_code=1"])
    def test_malformed_template_entries_are_named(
        self, clean_env: pytest.MonkeyPatch, raw: str
    ) -> None:
        clean_env.setenv("FRESHLOOP_SMS_TEMPLATES", raw)
        with pytest.raises(ConfigurationError, match="FRESHLOOP_SMS_TEMPLATES"):
            load_settings()

    def test_production_endpoints_are_https(self, clean_env: pytest.MonkeyPatch) -> None:
        _production(clean_env)
        _tencent_sms(clean_env)
        clean_env.setenv("FRESHLOOP_SMS_TENCENT_ENDPOINT", "http://sms.example.test")
        with pytest.raises(ConfigurationError, match="https"):
            load_settings()


class TestTrustedProxies:
    def test_none_by_default(self, clean_env: pytest.MonkeyPatch) -> None:
        assert load_settings().trusted_proxies == []

    def test_addresses_and_networks(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("FRESHLOOP_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1")
        assert load_settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1"]

    def test_a_bad_entry_is_named(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("FRESHLOOP_TRUSTED_PROXIES", "127.0.0.1,proxy.internal")
        with pytest.raises(ConfigurationError, match=r"proxy\.internal"):
            load_settings()

    def test_the_old_hop_count_is_refused_with_a_pointer(
        self, clean_env: pytest.MonkeyPatch
    ) -> None:
        # a hop count trusted the header from whoever connected; silently ignoring the old
        # setting would stop trusting a real proxy and put every user behind one IP
        clean_env.setenv("FRESHLOOP_TRUSTED_PROXY_HOPS", "1")
        with pytest.raises(ConfigurationError, match="FRESHLOOP_TRUSTED_PROXIES"):
            load_settings()
