"""Alipay 商家扣款 / 周期扣款 against payloads built per Alipay's published agreement APIs: the
signing page URL, dut_user_sign / dut_user_unsign notifications, alipay.trade.pay under an
agreement, and alipay.user.agreement.unsign. The gateway is the fake that checks the app's
RSA2 signature and signs its answers with Alipay's key; nothing reaches the network."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from freshloop.core import clock
from freshloop.payments.config import PaymentsConfigurationError, payments_config
from freshloop.payments.providers import (
    ForgedNotification,
    NotificationStatus,
    PromptKind,
    ProviderUnavailable,
    payment_provider,
    providers_reset,
)
from freshloop.payments.providers.alipay import AlipayProvider
from freshloop.payments.providers.alipay_agreement import AlipayAgreements
from freshloop.payments.providers.contracts import (
    ContractChargeRequest,
    ContractChargeStatus,
    ContractGateway,
    ContractNotificationKind,
    ContractSignRequest,
)
from tests.payments.helpers import (
    ALIPAY_APP_ID,
    ALIPAY_TRADE_NO,
    FakeAlipayGateway,
    alipay_failure,
    alipay_notification,
    alipay_signing_string,
    alipay_trade,
    public_pem,
    rsa2_sign,
    rsa2_verify,
    rsa_key,
)

AGREEMENT_NO = "20215225715271617440"
SELLER_ID = "2088101106499364"
# 2024-05-01 01:00 UTC is 09:00 on 1 May in Beijing.
NOW = dt.datetime(2024, 5, 1, 1, 0, tzinfo=dt.UTC)
SIGN_URL_PATH = "https://openapi.alipay.com/gateway.do"
CONTRACT_NO = "CT20240501000001"
UNSIGNED = {"code": "10000", "msg": "Success"}
CHARGE = ContractChargeRequest(
    payment_no="PAY_1",
    amount_fen=8850,
    description="鲜环周配菜箱",
    provider_contract_id=AGREEMENT_NO,
)


def _agreements(gateway: Callable[[str], str], **config_changes: Any) -> AlipayAgreements:
    """The configured Alipay provider with agreements switched on, on the fake gateway."""
    config = payments_config()
    assert config.alipay is not None
    provider = AlipayProvider(
        config=dataclasses.replace(config.alipay, agreement_enabled=True, **config_changes),
        notify_base_url=config.notify_base_url,
        transport=gateway,
    )
    assert isinstance(provider.contracts, AlipayAgreements)
    return provider.contracts


def agreement_notification(
    key: RSAPrivateKey,
    *,
    notify_type: str = "dut_user_sign",
    status: str = "NORMAL",
    app_id: str = ALIPAY_APP_ID,
    extra: dict[str, str] | None = None,
) -> bytes:
    """A signing / unsigning notification as Alipay posts it: form-encoded, RSA2-signed, with
    the fields of the published samples (no seller_id)."""
    when = (
        {"sign_time": "2024-05-01 09:04:30"}
        if notify_type == "dut_user_sign"
        else {"unsign_time": "2024-06-02 20:15:00"}
    )
    params = {
        "notify_time": "2024-05-01 09:05:00",
        "notify_type": notify_type,
        "notify_id": secrets.token_hex(16),
        "app_id": app_id,
        "auth_app_id": app_id,
        "charset": "UTF-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "agreement_no": AGREEMENT_NO,
        "external_agreement_no": CONTRACT_NO,
        "personal_product_code": "CYCLE_PAY_AUTH_P",
        "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
        "status": status,
        "alipay_user_id": "2088112811111403",
        "alipay_logon_id": "156******06",
        **when,
        **(extra or {}),
    }
    params["sign"] = rsa2_sign(key, alipay_signing_string(params))
    return urlencode(params).encode()


def agreement_paid(out_trade_no: str = "PAY_1", total_amount: str = "88.50") -> dict[str, object]:
    """An alipay_trade_pay_response node for money taken (the published success sample)."""
    return {
        "code": "10000",
        "msg": "Success",
        "trade_no": ALIPAY_TRADE_NO,
        "out_trade_no": out_trade_no,
        "buyer_logon_id": "159****5620",
        "total_amount": total_amount,
        "receipt_amount": total_amount,
        "gmt_payment": "2024-05-08 09:00:05",
        "buyer_user_id": "2088101117955611",
    }


def _sign_request(return_path: str = "/m/subscriptions/7") -> ContractSignRequest:
    return ContractSignRequest(
        contract_no=CONTRACT_NO, display_account="138****1234", return_path=return_path
    )


class TestAgreementConfiguration:
    def test_agreements_are_off_unless_switched_on(self, alipay_gateway: FakeAlipayGateway) -> None:
        provider = payment_provider("alipay")
        assert isinstance(provider, AlipayProvider)
        assert provider.contracts is None

    def test_switched_on_by_the_environment(
        self, alipay_gateway: FakeAlipayGateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FRESHLOOP_ALIPAY_AGREEMENT", "true")
        monkeypatch.setenv("FRESHLOOP_ALIPAY_AGREEMENT_SIGN_SCENE", "INDUSTRY|EDU")
        monkeypatch.setenv("FRESHLOOP_ALIPAY_AGREEMENT_SINGLE_AMOUNT_FEN", "20000")
        monkeypatch.setenv("FRESHLOOP_ALIPAY_AGREEMENT_PERIOD_DAYS", "14")
        monkeypatch.setenv("FRESHLOOP_ALIPAY_AGREEMENT_PRODUCT_CODE", "CYCLE_PAY_AUTH")
        providers_reset()

        provider = payment_provider("alipay")

        assert isinstance(provider, AlipayProvider)
        gateway: ContractGateway | None = provider.contracts
        assert isinstance(gateway, AlipayAgreements)
        config = provider.config
        assert config.agreement_sign_scene == "INDUSTRY|EDU"
        assert config.agreement_single_amount_fen == 20000
        assert config.agreement_period_days == 14
        assert config.agreement_product_code == "CYCLE_PAY_AUTH"

    def test_defaults_when_only_switched_on(
        self, alipay_gateway: FakeAlipayGateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FRESHLOOP_ALIPAY_AGREEMENT", "yes")
        providers_reset()
        config = payments_config().alipay
        assert config is not None
        assert config.agreement_enabled
        defaults = ("GENERAL_WITHHOLDING", "INDUSTRY|DIGITAL_MEDIA", 50000, 7)
        assert dataclasses.astuple(config)[-4:] == defaults

    @pytest.mark.parametrize(
        ("name", "value", "complaint"),
        [
            ("FRESHLOOP_ALIPAY_AGREEMENT", "maybe", "true or false"),
            ("FRESHLOOP_ALIPAY_AGREEMENT_SINGLE_AMOUNT_FEN", "500.00", "whole number"),
            ("FRESHLOOP_ALIPAY_AGREEMENT_SINGLE_AMOUNT_FEN", "0", "at least 1"),
            ("FRESHLOOP_ALIPAY_AGREEMENT_PERIOD_DAYS", "seven", "whole number"),
            # Alipay refuses a DAY period under 7 days.
            ("FRESHLOOP_ALIPAY_AGREEMENT_PERIOD_DAYS", "3", "at least 7"),
            ("FRESHLOOP_ALIPAY_AGREEMENT_PRODUCT_CODE", "QUICK_WAP_PAY", "one of"),
            ("FRESHLOOP_ALIPAY_AGREEMENT_SIGN_SCENE", "DEFAULT|DEFAULT", "never DEFAULT"),
            ("FRESHLOOP_ALIPAY_AGREEMENT_SIGN_SCENE", "FRESH_FOOD", "scene"),
        ],
    )
    def test_bad_settings_are_configuration_errors(
        self,
        alipay_gateway: FakeAlipayGateway,
        monkeypatch: pytest.MonkeyPatch,
        name: str,
        value: str,
        complaint: str,
    ) -> None:
        monkeypatch.setenv(name, value)
        providers_reset()
        with pytest.raises(PaymentsConfigurationError, match=complaint):
            payments_config()


class TestSignPrompt:
    def test_the_signing_page_is_a_gateway_url_signed_by_the_app(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        with clock.frozen(NOW):
            prompt = _agreements(alipay_gateway).sign_prompt(_sign_request())

        assert prompt.kind == PromptKind.REDIRECT
        url = urlparse(prompt.redirect_url)
        assert f"{url.scheme}://{url.netloc}{url.path}" == SIGN_URL_PATH
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        signature = params.pop("sign")
        assert rsa2_verify(
            public_pem(rsa_key("alipay-app")),
            alipay_signing_string(params, request=True),
            signature,
        )
        assert params["method"] == "alipay.user.agreement.page.sign"
        assert (params["app_id"], params["sign_type"]) == (ALIPAY_APP_ID, "RSA2")
        assert params["notify_url"] == (
            "https://shop.example.com/api/v1/payments/contracts/notify/alipay"
        )
        assert params["return_url"] == "https://shop.example.com/m/subscriptions/7"
        assert json.loads(params["biz_content"]) == {
            "personal_product_code": "CYCLE_PAY_AUTH_P",
            "product_code": "GENERAL_WITHHOLDING",
            "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
            "external_agreement_no": CONTRACT_NO,
            "external_logon_id": "138****1234",
            "access_params": {"channel": "ALIPAYAPP"},
            "period_rule_params": {
                "period_type": "DAY",
                "period": 7,
                "execute_time": "2024-05-01",
                "single_amount": "500.00",
            },
        }
        assert alipay_gateway.requests == []  # a page for the buyer: nothing is sent yet

    def test_the_period_rule_follows_the_configuration(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        agreements = _agreements(
            alipay_gateway, agreement_single_amount_fen=12345, agreement_period_days=30
        )
        # 16:30 UTC on 30 April is already 1 May in Beijing.
        with clock.frozen(dt.datetime(2024, 4, 30, 16, 30, tzinfo=dt.UTC)):
            prompt = agreements.sign_prompt(_sign_request())
        params = dict(parse_qsl(urlparse(prompt.redirect_url).query))
        rule = json.loads(params["biz_content"])["period_rule_params"]
        assert rule == {
            "period_type": "DAY",
            "period": 30,
            "execute_time": "2024-05-01",
            "single_amount": "123.45",
        }

    @pytest.mark.parametrize("path", ["//evil.example/x", "@evil.example", "https://evil.example"])
    def test_a_return_path_off_our_site_is_refused(
        self, alipay_gateway: FakeAlipayGateway, path: str
    ) -> None:
        with pytest.raises(ProviderUnavailable, match="not a path on this site"):
            _agreements(alipay_gateway).sign_prompt(_sign_request(return_path=path))

    def test_a_contract_number_alipay_cannot_take_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        request = dataclasses.replace(_sign_request(), contract_no="CT-2024-05-01-000001")
        with pytest.raises(ProviderUnavailable, match="letters and digits"):
            _agreements(alipay_gateway).sign_prompt(request)


class TestParseContractNotification:
    def test_a_signed_agreement_is_read(self, alipay_gateway: FakeAlipayGateway) -> None:
        body = agreement_notification(rsa_key("alipay-platform"))

        notification = _agreements(alipay_gateway).parse_contract_notification({}, body)

        assert notification.kind == ContractNotificationKind.SIGNED
        assert notification.contract_no == CONTRACT_NO
        assert notification.provider_contract_id == AGREEMENT_NO
        assert notification.at == dt.datetime(2024, 5, 1, 1, 4, 30, tzinfo=dt.UTC)
        assert notification.detail == ""

    def test_an_unsigned_agreement_is_terminated(self, alipay_gateway: FakeAlipayGateway) -> None:
        body = agreement_notification(
            rsa_key("alipay-platform"), notify_type="dut_user_unsign", status="UNSIGN"
        )

        notification = _agreements(alipay_gateway).parse_contract_notification({}, body)

        assert notification.kind == ContractNotificationKind.TERMINATED
        assert notification.provider_contract_id == AGREEMENT_NO
        assert notification.at == dt.datetime(2024, 6, 2, 12, 15, tzinfo=dt.UTC)
        assert "dut_user_unsign" in notification.detail

    def test_signed_by_another_key_is_forged(self, alipay_gateway: FakeAlipayGateway) -> None:
        body = agreement_notification(rsa_key("attacker"))
        with pytest.raises(ForgedNotification, match="signature"):
            _agreements(alipay_gateway).parse_contract_notification({}, body)

    def test_a_changed_agreement_number_breaks_the_signature(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        body = agreement_notification(rsa_key("alipay-platform"))
        tampered = body.replace(AGREEMENT_NO.encode(), b"20215225715271617441")
        with pytest.raises(ForgedNotification, match="signature"):
            _agreements(alipay_gateway).parse_contract_notification({}, tampered)

    def test_another_app_id_is_refused(self, alipay_gateway: FakeAlipayGateway) -> None:
        body = agreement_notification(rsa_key("alipay-platform"), app_id="2021999")
        with pytest.raises(ForgedNotification, match="app_id"):
            _agreements(alipay_gateway).parse_contract_notification({}, body)

    def test_no_seller_id_is_fine_when_a_seller_is_configured(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        agreements = _agreements(alipay_gateway, seller_id=SELLER_ID)
        body = agreement_notification(rsa_key("alipay-platform"))
        assert agreements.parse_contract_notification({}, body).kind == "signed"

    def test_another_seller_id_is_refused(self, alipay_gateway: FakeAlipayGateway) -> None:
        agreements = _agreements(alipay_gateway, seller_id=SELLER_ID)
        body = agreement_notification(
            rsa_key("alipay-platform"), extra={"seller_id": "2088000000000000"}
        )
        with pytest.raises(ForgedNotification, match="seller"):
            agreements.parse_contract_notification({}, body)

    def test_trade_notifications_still_need_the_seller(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        # The agreement path's leniency is its own: a trade notification without seller_id
        # is still refused when a seller is configured.
        agreements = _agreements(alipay_gateway, seller_id=SELLER_ID)
        body = alipay_notification(
            rsa_key("alipay-platform"), out_trade_no="PAY_1", total_amount="1.00"
        )
        params = {
            key: value
            for key, value in parse_qsl(body.decode())
            if key not in {"seller_id", "sign"}
        }
        params["sign"] = rsa2_sign(rsa_key("alipay-platform"), alipay_signing_string(params))
        with pytest.raises(ForgedNotification, match="seller"):
            agreements.parse_charge_notification({}, urlencode(params).encode())

    @pytest.mark.parametrize(
        ("notify_type", "status"),
        [
            ("trade_status_sync", "NORMAL"),
            ("dut_user_sign", "TEMP"),
            ("dut_user_unsign", "NORMAL"),
        ],
    )
    def test_anything_else_is_refused(
        self, alipay_gateway: FakeAlipayGateway, notify_type: str, status: str
    ) -> None:
        body = agreement_notification(
            rsa_key("alipay-platform"), notify_type=notify_type, status=status
        )
        with pytest.raises(ForgedNotification, match="unknown notify_type"):
            _agreements(alipay_gateway).parse_contract_notification({}, body)

    def test_a_notification_without_agreement_numbers_is_refused(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        body = agreement_notification(rsa_key("alipay-platform"), extra={"agreement_no": ""})
        with pytest.raises(ForgedNotification, match="agreement numbers"):
            _agreements(alipay_gateway).parse_contract_notification({}, body)


class TestCharge:
    def test_money_taken_is_succeeded_with_amount_and_trade_number(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.pay"] = agreement_paid()

        result = _agreements(alipay_gateway).charge(CHARGE)

        [sent] = alipay_gateway.requests
        assert sent["method"] == "alipay.trade.pay"
        assert sent["params"]["notify_url"] == (
            "https://shop.example.com/api/v1/payments/notify/alipay"
        )
        assert sent["biz_content"] == {
            "out_trade_no": "PAY_1",
            "total_amount": "88.50",
            "subject": "鲜环周配菜箱",
            "product_code": "GENERAL_WITHHOLDING",
            "agreement_params": {"agreement_no": AGREEMENT_NO},
        }
        assert result.status == ContractChargeStatus.SUCCEEDED
        assert result.notification is not None
        assert result.notification.out_trade_no == "PAY_1"
        assert result.notification.transaction_id == ALIPAY_TRADE_NO
        assert result.notification.amount_fen == 8850
        assert result.notification.status == NotificationStatus.SUCCEEDED
        assert result.notification.paid_at == dt.datetime(2024, 5, 8, 1, 0, 5, tzinfo=dt.UTC)
        assert result.notification.app_id == ALIPAY_APP_ID

    def test_the_older_cycle_pay_contract_charges_under_its_own_product(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.pay"] = agreement_paid()
        _agreements(alipay_gateway, agreement_product_code="CYCLE_PAY_AUTH").charge(CHARGE)
        [sent] = alipay_gateway.requests
        assert sent["biz_content"]["product_code"] == "CYCLE_PAY_AUTH"

    def test_waiting_is_accepted(self, alipay_gateway: FakeAlipayGateway) -> None:
        alipay_gateway.answers["alipay.trade.pay"] = {
            "code": "10003",
            "msg": " order success pay inprocess",
            "out_trade_no": "PAY_1",
            "trade_no": ALIPAY_TRADE_NO,
        }
        result = _agreements(alipay_gateway).charge(CHARGE)
        assert (result.status, result.notification) == (ContractChargeStatus.ACCEPTED, None)

    @pytest.mark.parametrize(
        "sub_code",
        [
            "ACQ.BUYER_BALANCE_NOT_ENOUGH",
            "ACQ.AGREEMENT_NOT_EXIST",
            "ACQ.AGREEMENT_INVALID",
            "ACQ.PAYMENT_FAIL",
            "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED",
        ],
    )
    def test_a_business_failure_is_refused_with_alipays_code(
        self, alipay_gateway: FakeAlipayGateway, sub_code: str
    ) -> None:
        alipay_gateway.answers["alipay.trade.pay"] = alipay_failure(sub_code, "买家余额不足")
        result = _agreements(alipay_gateway).charge(CHARGE)
        assert result.status == ContractChargeStatus.REFUSED
        assert (result.code, result.message) == (sub_code, "买家余额不足")
        assert result.notification is None

    @pytest.mark.parametrize(
        "answer",
        [
            alipay_failure("ACQ.SYSTEM_ERROR", "系统异常"),
            {"code": "20000", "msg": "Service Currently Unavailable"},
            {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id"},
        ],
    )
    def test_an_unknown_outcome_is_unavailable(
        self, alipay_gateway: FakeAlipayGateway, answer: dict[str, str]
    ) -> None:
        alipay_gateway.answers["alipay.trade.pay"] = answer
        with pytest.raises(ProviderUnavailable, match="agreement pay failed"):
            _agreements(alipay_gateway).charge(CHARGE)

    def test_a_retried_charge_already_paid_is_read_back(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.pay"] = alipay_failure(
            "ACQ.TRADE_HAS_SUCCESS", "交易已被支付"
        )
        alipay_gateway.answers["alipay.trade.query"] = alipay_trade(
            out_trade_no="PAY_1", total_amount="88.50"
        )

        result = _agreements(alipay_gateway).charge(CHARGE)

        assert [sent["method"] for sent in alipay_gateway.requests] == [
            "alipay.trade.pay",
            "alipay.trade.query",
        ]
        assert result.status == ContractChargeStatus.SUCCEEDED
        assert result.notification is not None
        assert (result.notification.transaction_id, result.notification.amount_fen) == (
            ALIPAY_TRADE_NO,
            8850,
        )

    @pytest.mark.parametrize(
        ("forger", "complaint"),
        [
            ({"signing_key": rsa_key("attacker")}, "not signed by Alipay"),
            ({"unsigned": True}, "unsigned"),
        ],
    )
    def test_an_answer_not_signed_by_alipay_is_unavailable(
        self, alipay_gateway: FakeAlipayGateway, forger: dict[str, Any], complaint: str
    ) -> None:
        alipay_gateway.answers["alipay.trade.pay"] = agreement_paid()
        for attribute, value in forger.items():
            setattr(alipay_gateway, attribute, value)
        with pytest.raises(ProviderUnavailable, match=complaint):
            _agreements(alipay_gateway).charge(CHARGE)

    def test_a_success_for_another_trade_is_unavailable(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.trade.pay"] = agreement_paid("PAY_OTHER")
        with pytest.raises(ProviderUnavailable, match="another out_trade_no"):
            _agreements(alipay_gateway).charge(CHARGE)

    def test_an_unreachable_gateway_is_unavailable(self, alipay_gateway: FakeAlipayGateway) -> None:
        def down(url: str) -> str:
            raise OSError("connection refused")

        with pytest.raises(ProviderUnavailable, match="unreachable"):
            _agreements(down).charge(CHARGE)


class TestChargeNotification:
    def test_the_trade_notification_is_read_like_a_payment(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        body = alipay_notification(
            rsa_key("alipay-platform"), out_trade_no="PAY_1", total_amount="88.50"
        )
        notification = _agreements(alipay_gateway).parse_charge_notification({}, body)
        assert (notification.out_trade_no, notification.amount_fen) == ("PAY_1", 8850)
        assert notification.status == NotificationStatus.SUCCEEDED


def _terminate(gateway: FakeAlipayGateway, provider_contract_id: str = AGREEMENT_NO) -> None:
    _agreements(gateway).terminate(
        contract_no=CONTRACT_NO, provider_contract_id=provider_contract_id, reason="用户取消"
    )


class TestTerminate:
    def test_unsign_names_the_agreement(self, alipay_gateway: FakeAlipayGateway) -> None:
        alipay_gateway.answers["alipay.user.agreement.unsign"] = UNSIGNED

        _terminate(alipay_gateway)

        [sent] = alipay_gateway.requests
        assert sent["method"] == "alipay.user.agreement.unsign"
        assert sent["params"]["notify_url"] == (
            "https://shop.example.com/api/v1/payments/contracts/notify/alipay"
        )
        assert sent["biz_content"] == {
            "personal_product_code": "CYCLE_PAY_AUTH_P",
            "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
            "external_agreement_no": CONTRACT_NO,
            "agreement_no": AGREEMENT_NO,
        }

    def test_an_agreement_never_heard_of_is_found_by_our_number(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.user.agreement.unsign"] = UNSIGNED
        _terminate(alipay_gateway, provider_contract_id="")
        [sent] = alipay_gateway.requests
        assert "agreement_no" not in sent["biz_content"]
        assert sent["biz_content"]["external_agreement_no"] == CONTRACT_NO

    def test_an_agreement_alipay_no_longer_has_is_ended(
        self, alipay_gateway: FakeAlipayGateway
    ) -> None:
        alipay_gateway.answers["alipay.user.agreement.unsign"] = alipay_failure(
            "USER_AGREEMENT_NOT_EXIST", "用户协议不存在"
        )
        _terminate(alipay_gateway)

    @pytest.mark.parametrize(
        "answer",
        [
            alipay_failure("SYSTEM_ERROR", "系统繁忙"),
            {"code": "40006", "msg": "Insufficient Permissions", "sub_code": "isv.insufficient"},
        ],
    )
    def test_any_other_refusal_is_unavailable(
        self, alipay_gateway: FakeAlipayGateway, answer: dict[str, str]
    ) -> None:
        alipay_gateway.answers["alipay.user.agreement.unsign"] = answer
        with pytest.raises(ProviderUnavailable, match="unsign refused"):
            _terminate(alipay_gateway)

    def test_a_forged_answer_is_unavailable(self, alipay_gateway: FakeAlipayGateway) -> None:
        alipay_gateway.answers["alipay.user.agreement.unsign"] = UNSIGNED
        alipay_gateway.signing_key = rsa_key("attacker")
        with pytest.raises(ProviderUnavailable, match="not signed by Alipay"):
            _terminate(alipay_gateway)


class TestNoticeAndAcknowledgement:
    def test_no_pre_debit_notice_is_sent(self, alipay_gateway: FakeAlipayGateway) -> None:
        _agreements(alipay_gateway).pre_debit_notify(
            provider_contract_id=AGREEMENT_NO, amount_fen=8850
        )
        assert alipay_gateway.requests == []

    def test_alipay_hears_success_or_fail(self, alipay_gateway: FakeAlipayGateway) -> None:
        agreements = _agreements(alipay_gateway)
        done = agreements.acknowledge(accepted=True, message="", retry=False)
        again = agreements.acknowledge(accepted=False, message="forged", retry=True)
        assert (done.status, done.content_type, done.body) == (200, "text/plain", b"success")
        assert again.body == b"fail"
