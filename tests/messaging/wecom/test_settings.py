"""FRESHLOOP_WECOM_*: half a configuration refuses to start."""

from __future__ import annotations

import pytest

from config.env import ConfigurationError, _load_wecom
from tests.messaging.wecom.helpers import SAMPLE_AES_KEY


class TestLoadWecom:
    def test_nothing_set_is_the_sandbox(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("CORP_ID", "CONTACT_SECRET", "CALLBACK_TOKEN", "CALLBACK_AES_KEY"):
            monkeypatch.delenv(f"FRESHLOOP_WECOM_{name}", raising=False)
        wecom = _load_wecom()
        assert not wecom.configured
        assert not wecom.callback_enabled

    def test_a_full_configuration(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FRESHLOOP_WECOM_CORP_ID", "ww1")
        monkeypatch.setenv("FRESHLOOP_WECOM_CONTACT_SECRET", "s")
        monkeypatch.setenv("FRESHLOOP_WECOM_CALLBACK_TOKEN", "QDG6eK")
        monkeypatch.setenv("FRESHLOOP_WECOM_CALLBACK_AES_KEY", SAMPLE_AES_KEY)
        wecom = _load_wecom()
        assert wecom.configured
        assert wecom.callback_enabled

    def test_a_corp_without_its_secret_refuses(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FRESHLOOP_WECOM_CORP_ID", "ww1")
        monkeypatch.delenv("FRESHLOOP_WECOM_CONTACT_SECRET", raising=False)
        with pytest.raises(ConfigurationError, match="CONTACT_SECRET"):
            _load_wecom()

    @pytest.mark.parametrize("key", ["short", SAMPLE_AES_KEY[:-1] + "!", SAMPLE_AES_KEY + "A"])
    def test_a_bad_encoding_aes_key_refuses(
        self, monkeypatch: pytest.MonkeyPatch, key: str
    ) -> None:
        monkeypatch.setenv("FRESHLOOP_WECOM_CALLBACK_TOKEN", "t")
        monkeypatch.setenv("FRESHLOOP_WECOM_CALLBACK_AES_KEY", key)
        with pytest.raises(ConfigurationError, match="EncodingAESKey"):
            _load_wecom()
