"""WeChat Pay 委托代扣 (APIv2 contracts): the v2 signature against the vector WeChat Pay
publishes (签名生成算法), the 公众号纯签约 page, the signing / termination and charge callbacks,
申请扣款, 申请解约 and the APIv3 预扣费通知. WeChat's side is played by a fake that checks our
signatures with its own code and answers signed XML, as the pages document; nothing goes out."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qsl, urlparse

import httpx
import pytest
import responses
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

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
from freshloop.payments.providers.contracts import (
    ContractChargeRequest,
    ContractChargeStatus,
    ContractGateway,
    ContractNotificationKind,
    ContractSignRequest,
)
from freshloop.payments.providers.wechat_papay import (
    SignType,
    WechatPapay,
    parse_xml,
    v2_sign,
    v2_verify,
    v3_poster,
)
from freshloop.payments.providers.wechatpay import WechatPayV3Provider
from tests.payments.helpers import WECHAT_APPID, WECHAT_MCHID, WechatPlatform, rsa_key

API = "https://api.mch.weixin.qq.com"
PLAN_ID = "12535"
CONTRACT_ID = "Wx15463511252015071056489715"


def wechat_sign(params: dict[str, str], key: str, sign_type: str) -> str:
    """WeChat's side of the v2 signature, written from 签名生成算法 apart from the adapter."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k])
    text += f"&key={key}"
    if sign_type == "MD5":
        return hashlib.md5(text.encode()).hexdigest().upper()  # noqa: S324
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest().upper()


def wechat_xml(fields: dict[str, str]) -> bytes:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return f"<xml>{inner}</xml>".encode()


def read_xml(body: bytes) -> dict[str, str]:
    return {child.tag: child.text or "" for child in ET.fromstring(body)}  # noqa: S314


def signed(fields: dict[str, str], key: str, sign_type: str = "MD5") -> bytes:
    return wechat_xml({**fields, "sign": wechat_sign(fields, key, sign_type)})


class FakePapay:
    """Stands in for api.mch.weixin.qq.com's APIv2: checks the merchant's signature (MD5, or
    HMAC-SHA256 when the request says so) and answers signed XML. `answers[path]` adds fields
    to (or replaces fields of) the default SUCCESS answer; `unsigned` leaves `sign` out;
    `signing_key` signs with another key (a forgery); `down` fails the connection."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.answers: dict[str, dict[str, str]] = {}
        self.unsigned = False
        self.signing_key = ""
        self.down = False

    def refuse(self, path: str, code: str, description: str = "") -> None:
        self.answers[path] = {"result_code": "FAIL", "err_code": code, "err_code_des": description}

    def __call__(self, url: str, body: bytes) -> bytes:
        if self.down:
            raise httpx.ConnectError("connection refused")
        params = read_xml(body)
        sign_type = params.get("sign_type", "MD5")
        assert params["sign"] == wechat_sign(params, self.key, sign_type)
        path = urlparse(url).path
        self.requests.append((path, params))
        answer = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": WECHAT_APPID,
            "mch_id": WECHAT_MCHID,
            "result_code": "SUCCESS",
            **self.answers.get(path, {}),
        }
        if self.unsigned:
            return wechat_xml(answer)
        return signed(answer, self.signing_key or self.key, sign_type)


@pytest.fixture
def apiv2_key(wechat_platform: WechatPlatform, monkeypatch: pytest.MonkeyPatch) -> str:
    """WeChat Pay configured with a contract plan and its APIv2 key."""
    key = secrets.token_hex(16)
    monkeypatch.setenv("FRESHLOOP_WECHATPAY_APIV2_KEY", key)
    monkeypatch.setenv("FRESHLOOP_WECHATPAY_CONTRACT_PLAN_ID", PLAN_ID)
    providers_reset()
    return key


def _provider() -> WechatPayV3Provider:
    provider = payment_provider("wechatpay")
    assert isinstance(provider, WechatPayV3Provider)
    return provider


@pytest.fixture
def wechat(apiv2_key: str) -> FakePapay:
    return FakePapay(apiv2_key)


@pytest.fixture
def papay(wechat: FakePapay) -> WechatPapay:
    """The gateway as the provider builds it, its v2 HTTP edge replaced by the fake."""
    config = payments_config()
    assert config.wechatpay is not None
    return WechatPapay(
        config=config.wechatpay,
        notify_base_url=config.notify_base_url,
        v3_post=v3_poster(_provider().client),
        transport=wechat,
    )


def contract_callback(key: str, **changes: str) -> bytes:
    """The 签约、解约结果通知 WeChat Pay posts, signed with the APIv2 key."""
    fields = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "result_code": "SUCCESS",
        "mch_id": WECHAT_MCHID,
        "contract_code": "CT_01HX",
        "plan_id": PLAN_ID,
        "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "change_type": "ADD",
        "operate_time": "2024-05-01 10:34:56",
        "contract_id": CONTRACT_ID,
        "contract_expired_time": "2027-05-01 10:34:56",
        "request_serial": "1714530896000",
        **changes,
    }
    return signed(fields, key)


def charge_callback(key: str, **changes: str) -> bytes:
    """The 扣款结果通知 for a PAP charge, signed with the APIv2 key."""
    fields = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": WECHAT_APPID,
        "mch_id": WECHAT_MCHID,
        "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        "result_code": "SUCCESS",
        "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "trade_type": "PAP",
        "trade_state": "SUCCESS",
        "total_fee": "1590",
        "transaction_id": "4200000000202405011234567890",
        "out_trade_no": "PAY_01HXPAP",
        "time_end": "20240501103456",
        "contract_id": CONTRACT_ID,
        **changes,
    }
    return signed(fields, key, "HMAC-SHA256")


def page_params(prompt_url: str) -> dict[str, str]:
    return dict(parse_qsl(urlparse(prompt_url).query, keep_blank_values=True))


def charge_request(description: str = "鲜环周期购 第3期") -> ContractChargeRequest:
    return ContractChargeRequest(
        payment_no="PAY_01HXPAP",
        amount_fen=1590,
        description=description,
        provider_contract_id=CONTRACT_ID,
        client_ip="14.23.150.211",
    )


class TestV2Signature:
    # 签名生成算法's worked example, with its key and both published results.
    DOC_PARAMS = {
        "appid": "wxd930ea5d5a258f4f",
        "mch_id": "10000100",
        "device_info": "1000",
        "body": "test",
        "nonce_str": "ibuaiVcKdpRxkhJA",
    }
    DOC_KEY = "192006250b4c09247ec02edce69f6a2d"
    DOC_MD5 = "9A0A8659F005D6984697E2CA0A9CF3B7"
    DOC_HMAC = "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"

    def test_the_published_vector_signs_alike_with_md5_and_hmac_sha256(self) -> None:
        assert v2_sign(self.DOC_PARAMS, self.DOC_KEY, SignType.MD5) == self.DOC_MD5
        assert v2_sign(self.DOC_PARAMS, self.DOC_KEY, SignType.HMAC_SHA256) == self.DOC_HMAC
        # and the fake WeChat side used below agrees with the published vector too
        assert wechat_sign(self.DOC_PARAMS, self.DOC_KEY, "MD5") == self.DOC_MD5
        assert wechat_sign(self.DOC_PARAMS, self.DOC_KEY, "HMAC-SHA256") == self.DOC_HMAC

    def test_empty_values_and_sign_itself_are_left_out(self) -> None:
        padded = {**self.DOC_PARAMS, "attach": "", "sign": "WHATEVER"}
        assert v2_sign(padded, self.DOC_KEY, SignType.MD5) == self.DOC_MD5

    def test_either_published_signature_verifies_and_nothing_else_does(self) -> None:
        for sign in (self.DOC_MD5, self.DOC_MD5.lower(), self.DOC_HMAC):
            assert v2_verify({**self.DOC_PARAMS, "sign": sign}, self.DOC_KEY)
        hmac_sign = self.DOC_HMAC
        assert not v2_verify(self.DOC_PARAMS, self.DOC_KEY)
        assert not v2_verify({**self.DOC_PARAMS, "body": "tesT", "sign": hmac_sign}, self.DOC_KEY)
        assert not v2_verify({**self.DOC_PARAMS, "sign": "9A0A8659F005D698"}, self.DOC_KEY)


class TestParseXml:
    def test_cdata_and_escaped_text_read_alike(self) -> None:
        body = b"<xml><a><![CDATA[x]]]]><![CDATA[>y]]></a><b>1 &lt; 2</b></xml>"
        assert parse_xml(body) == {"a": "x]]>y", "b": "1 < 2"}

    def test_a_doctype_is_refused_before_parsing(self) -> None:
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]><xml><a>&a;</a></xml>'
        )
        with pytest.raises(ValueError, match="DOCTYPE"):
            parse_xml(bomb)

    def test_a_utf16_declaration_cannot_smuggle_a_doctype(self) -> None:
        smuggled = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x><xml/>'.encode("utf-16")
        with pytest.raises(ValueError, match="not UTF-8"):
            parse_xml(smuggled)


class TestSignPrompt:
    def test_the_signing_page_carries_the_documented_fields_signed_with_md5(
        self, papay: WechatPapay, apiv2_key: str
    ) -> None:
        # given a buyer signing contract CT_01HX at a known instant
        at = dt.datetime(2024, 5, 1, 2, 34, 56, 789000, tzinfo=dt.UTC)
        with clock.frozen(at):
            prompt = papay.sign_prompt(
                ContractSignRequest(
                    contract_no="CT_01HX", display_account="鲜环会员 138****0000", return_path="/m"
                )
            )
        # then the buyer is sent to WeChat's 公众号纯签约 page
        url = urlparse(prompt.redirect_url)
        assert prompt.kind == PromptKind.REDIRECT
        assert (url.scheme, url.netloc, url.path) == (
            "https",
            "api.mch.weixin.qq.com",
            "/papay/entrustweb",
        )
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        assert params == {
            "appid": WECHAT_APPID,
            "mch_id": WECHAT_MCHID,
            "plan_id": PLAN_ID,
            "contract_code": "CT_01HX",
            "request_serial": "1714530896789",
            "contract_display_account": "鲜环会员 138****0000",
            "notify_url": "https://shop.example.com/api/v1/payments/contracts/notify/wechatpay",
            "version": "1.0",
            "timestamp": "1714530896",
            "return_web": "1",
            "sign": wechat_sign(params, apiv2_key, "MD5"),
        }
        # and the notify_url value is URL-encoded in the address (signed over the raw value)
        assert "notify_url=https%3A%2F%2Fshop.example.com%2Fapi%2Fv1%2F" in url.query

    def test_four_byte_characters_are_dropped_from_the_display_account(
        self, papay: WechatPapay
    ) -> None:
        prompt = papay.sign_prompt(
            ContractSignRequest(
                contract_no="CT_1", display_account="小陈🍎𠀀的菜篮", return_path=""
            )
        )
        assert page_params(prompt.redirect_url)["contract_display_account"] == "小陈的菜篮"

    def test_request_serials_grow_even_within_one_millisecond(self, papay: WechatPapay) -> None:
        request = ContractSignRequest(contract_no="CT_1", display_account="会员", return_path="")
        with clock.frozen(dt.datetime(2024, 5, 1, tzinfo=dt.UTC)):
            prompts = [papay.sign_prompt(request) for _ in range(3)]
        serials = [int(page_params(p.redirect_url)["request_serial"]) for p in prompts]
        assert serials == [1714521600000, 1714521600001, 1714521600002]


class TestParseContractNotification:
    def test_a_signing_is_read_with_its_beijing_time_in_utc(
        self, papay: WechatPapay, apiv2_key: str
    ) -> None:
        notification = papay.parse_contract_notification({}, contract_callback(apiv2_key))
        assert notification.kind == ContractNotificationKind.SIGNED
        assert (notification.contract_no, notification.provider_contract_id) == (
            "CT_01HX",
            CONTRACT_ID,
        )
        assert notification.at == dt.datetime(2024, 5, 1, 2, 34, 56, tzinfo=dt.UTC)

    @pytest.mark.parametrize(
        ("mode", "detail"), [("2", "用户主动解约"), ("3", "商户解约"), ("1", "协议到期")]
    )
    def test_a_termination_says_who_ended_it(
        self, papay: WechatPapay, apiv2_key: str, mode: str, detail: str
    ) -> None:
        body = contract_callback(apiv2_key, change_type="DELETE", contract_termination_mode=mode)
        notification = papay.parse_contract_notification({}, body)
        assert (notification.kind, notification.detail) == (
            ContractNotificationKind.TERMINATED,
            detail,
        )

    def test_an_hmac_signed_callback_is_accepted_too(
        self, papay: WechatPapay, apiv2_key: str
    ) -> None:
        fields = read_xml(contract_callback(apiv2_key))
        fields.pop("sign")
        body = signed(fields, apiv2_key, "HMAC-SHA256")
        assert papay.parse_contract_notification({}, body).kind == ContractNotificationKind.SIGNED

    @pytest.mark.parametrize(
        ("body_for", "reason"),
        [
            (lambda key: contract_callback(secrets.token_hex(16)), "signature"),
            (lambda key: contract_callback(key).replace(b"CT_01HX", b"CT_OTHER"), "signature"),
            (lambda key: re.sub(rb"<sign>.*?</sign>", b"", contract_callback(key)), "not signed"),
            (lambda key: contract_callback(key, mch_id="1230000109"), "merchant"),
            (lambda key: contract_callback(key, plan_id="99999"), "plan"),
            (lambda key: contract_callback(key, change_type="MODIFY"), "change_type"),
            (lambda key: b"<!DOCTYPE xml>" + contract_callback(key), "DOCTYPE"),
            (lambda key: b'{"change_type": "ADD"}', "unreadable"),
        ],
    )
    def test_what_cannot_be_trusted_is_refused(
        self, papay: WechatPapay, apiv2_key: str, body_for: Any, reason: str
    ) -> None:
        with pytest.raises(ForgedNotification, match=reason):
            papay.parse_contract_notification({}, body_for(apiv2_key))


class TestCharge:
    def test_an_accepted_charge_was_asked_for_as_documented(
        self, papay: WechatPapay, wechat: FakePapay
    ) -> None:
        result = papay.charge(charge_request(description="鲜环周期购 第3期" + "菜" * 200))
        assert result.status == ContractChargeStatus.ACCEPTED
        path, sent = wechat.requests[0]
        assert path == "/pay/pappayapply"
        assert sent["sign_type"] == "HMAC-SHA256"
        assert len(sent["sign"]) == 64
        assert {k: v for k, v in sent.items() if k not in {"nonce_str", "sign"}} == {
            "appid": WECHAT_APPID,
            "mch_id": WECHAT_MCHID,
            "sign_type": "HMAC-SHA256",
            "body": ("鲜环周期购 第3期" + "菜" * 200)[:127],
            "out_trade_no": "PAY_01HXPAP",
            "total_fee": "1590",
            "spbill_create_ip": "14.23.150.211",
            "notify_url": "https://shop.example.com/api/v1/payments/contracts/notify/wechatpay/charge",
            "trade_type": "PAP",
            "contract_id": CONTRACT_ID,
        }

    @pytest.mark.parametrize("code", ["NOTENOUGH", "CONTRACT_NOT_EXIST", "RULELIMIT"])
    def test_a_refusal_carries_wechats_code_and_words(
        self, papay: WechatPapay, wechat: FakePapay, code: str
    ) -> None:
        wechat.refuse("/pay/pappayapply", code, "余额不足")
        result = papay.charge(charge_request())
        assert (result.status, result.code, result.message) == (
            ContractChargeStatus.REFUSED,
            code,
            "余额不足",
        )

    @pytest.mark.parametrize("code", ["SYSTEMERROR", "FREQUENCY_LIMITED"])
    def test_an_error_worth_retrying_is_unavailable(
        self, papay: WechatPapay, wechat: FakePapay, code: str
    ) -> None:
        wechat.refuse("/pay/pappayapply", code)
        with pytest.raises(ProviderUnavailable, match=code):
            papay.charge(charge_request())

    def test_an_already_paid_payment_is_accepted_for_the_caller_to_query(
        self, papay: WechatPapay, wechat: FakePapay
    ) -> None:
        wechat.refuse("/pay/pappayapply", "ORDERPAID")
        result = papay.charge(charge_request())
        assert (result.status, result.code) == (ContractChargeStatus.ACCEPTED, "ORDERPAID")

    def test_a_success_unsigned_or_signed_with_another_key_is_not_believed(
        self, papay: WechatPapay, wechat: FakePapay
    ) -> None:
        wechat.unsigned = True
        with pytest.raises(ProviderUnavailable, match="unsigned or forged"):
            papay.charge(charge_request())
        wechat.unsigned, wechat.signing_key = False, secrets.token_hex(16)
        with pytest.raises(ProviderUnavailable, match="unsigned or forged"):
            papay.charge(charge_request())

    def test_a_communication_failure_is_unavailable(
        self, papay: WechatPapay, wechat: FakePapay
    ) -> None:
        wechat.answers["/pay/pappayapply"] = {"return_code": "FAIL", "return_msg": "签名失败"}
        with pytest.raises(ProviderUnavailable, match="签名失败"):
            papay.charge(charge_request())
        wechat.down = True
        with pytest.raises(ProviderUnavailable, match="connection refused"):
            papay.charge(charge_request())


class TestParseChargeNotification:
    def test_a_paid_charge_is_read(self, papay: WechatPapay, apiv2_key: str) -> None:
        notification = papay.parse_charge_notification({}, charge_callback(apiv2_key))
        assert notification.status == NotificationStatus.SUCCEEDED
        assert (notification.out_trade_no, notification.amount_fen) == ("PAY_01HXPAP", 1590)
        assert notification.transaction_id == "4200000000202405011234567890"
        assert notification.paid_at == dt.datetime(2024, 5, 1, 2, 34, 56, tzinfo=dt.UTC)
        assert notification.app_id == WECHAT_APPID

    def test_an_unpaid_charge_fails_or_waits(self, papay: WechatPapay, apiv2_key: str) -> None:
        failure = {"result_code": "FAIL", "err_code": "NOTENOUGH", "transaction_id": ""}
        notification = papay.parse_charge_notification({}, charge_callback(apiv2_key, **failure))
        assert notification.status == NotificationStatus.FAILED
        assert notification.out_trade_no == "PAY_01HXPAP"
        body = charge_callback(apiv2_key, trade_state="PAYERROR")
        assert papay.parse_charge_notification({}, body).status == NotificationStatus.FAILED
        body = charge_callback(apiv2_key, trade_state="USERPAYING")
        assert papay.parse_charge_notification({}, body).status == NotificationStatus.PENDING

    @pytest.mark.parametrize(
        ("body_for", "reason"),
        [
            (lambda key: charge_callback(key).replace(b"1590", b"1"), "signature"),
            (lambda key: charge_callback(key, appid="wx0000000000000000"), "another app"),
            (lambda key: charge_callback(key, mch_id="1230000109"), "merchant"),
            (lambda key: charge_callback(key, total_fee=""), "amount"),
        ],
    )
    def test_what_cannot_be_trusted_is_refused(
        self, papay: WechatPapay, apiv2_key: str, body_for: Any, reason: str
    ) -> None:
        with pytest.raises(ForgedNotification, match=reason):
            papay.parse_charge_notification({}, body_for(apiv2_key))


class TestTerminate:
    def test_a_contract_is_ended_by_wechats_id_with_an_md5_signature(
        self, papay: WechatPapay, wechat: FakePapay
    ) -> None:
        papay.terminate(contract_no="CT_01HX", provider_contract_id=CONTRACT_ID, reason="用户退订")
        path, sent = wechat.requests[0]
        assert path == "/papay/deletecontract"
        assert len(sent["sign"]) == 32
        assert {k: v for k, v in sent.items() if k != "sign"} == {
            "appid": WECHAT_APPID,
            "mch_id": WECHAT_MCHID,
            "contract_id": CONTRACT_ID,
            "contract_termination_remark": "用户退订",
            "version": "1.0",
        }

    def test_without_wechats_id_the_plan_and_our_code_name_it(
        self, papay: WechatPapay, wechat: FakePapay
    ) -> None:
        papay.terminate(contract_no="CT_01HX", provider_contract_id="", reason="")
        sent = wechat.requests[0][1]
        assert (sent["plan_id"], sent["contract_code"]) == (PLAN_ID, "CT_01HX")
        assert "contract_id" not in sent
        assert sent["contract_termination_remark"]

    def test_a_contract_wechat_no_longer_knows_is_ended(
        self, papay: WechatPapay, wechat: FakePapay
    ) -> None:
        wechat.refuse("/papay/deletecontract", "CONTRACT_NOT_EXIST", "签约协议不存在")
        assert (
            papay.terminate(contract_no="CT_1", provider_contract_id=CONTRACT_ID, reason="x")
            is None
        )

    def test_any_other_refusal_is_unavailable(self, papay: WechatPapay, wechat: FakePapay) -> None:
        wechat.refuse("/papay/deletecontract", "SYSTEMERROR")
        with pytest.raises(ProviderUnavailable, match="SYSTEMERROR"):
            papay.terminate(contract_no="CT_1", provider_contract_id=CONTRACT_ID, reason="x")


def _check_merchant_signature(request: Any) -> None:
    """WeChat Pay's check of a v3 request: the merchant key signs
    "METHOD\\nPATH\\ntimestamp\\nnonce\\nbody\\n" (签名验证)."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', request.headers["Authorization"]))
    signed_parts = [request.method, urlparse(request.url).path, fields["timestamp"]]
    signed_parts += [fields["nonce_str"], request.body.decode(), ""]
    message = "\n".join(signed_parts)
    rsa_key("wechat-merchant").public_key().verify(
        base64.b64decode(fields["signature"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def answer_notice(platform: WechatPlatform, status: int, body: bytes = b"") -> None:
    """WeChat Pay's answer to 预扣费通知, signed by `platform`, from `responses`."""
    url = f"{API}/v3/papay/contracts/{CONTRACT_ID}/notify"
    responses.add(
        responses.POST, url, status=status, body=body, headers=platform.response_headers(body)
    )


class TestPreDebitNotify:
    @responses.activate
    def test_the_notice_is_a_signed_v3_post_answered_204(
        self, papay: WechatPapay, wechat_platform: WechatPlatform
    ) -> None:
        answer_notice(wechat_platform, 204)
        papay.pre_debit_notify(provider_contract_id=CONTRACT_ID, amount_fen=1590)
        request = responses.calls[0].request
        assert json.loads(request.body) == {
            "mchid": WECHAT_MCHID,
            "appid": WECHAT_APPID,
            "estimated_amount": {"amount": 1590, "currency": "CNY"},
        }
        _check_merchant_signature(request)

    @responses.activate
    def test_a_refused_notice_is_unavailable(
        self, papay: WechatPapay, wechat_platform: WechatPlatform
    ) -> None:
        answer = json.dumps({"code": "INVALID_REQUEST", "message": "不在可通知时间段"}).encode()
        answer_notice(wechat_platform, 400, answer)
        with pytest.raises(ProviderUnavailable, match="INVALID_REQUEST"):
            papay.pre_debit_notify(provider_contract_id=CONTRACT_ID, amount_fen=1590)

    @responses.activate
    def test_an_answer_not_signed_by_the_platform_is_unavailable(
        self, papay: WechatPapay, wechat_platform: WechatPlatform
    ) -> None:
        forged = WechatPlatform(rsa_key("attacker"), wechat_platform.serial, "x" * 32)
        answer_notice(forged, 204)
        with pytest.raises(ProviderUnavailable):
            papay.pre_debit_notify(provider_contract_id=CONTRACT_ID, amount_fen=1590)


class TestAcknowledge:
    def test_wechat_reads_success_or_fail_in_v2_xml(self, papay: WechatPapay) -> None:
        ok = papay.acknowledge(accepted=True, message="", retry=False)
        assert (ok.status, ok.content_type) == (200, "text/xml; charset=utf-8")
        assert ok.body == (
            b"<xml><return_code><![CDATA[SUCCESS]]></return_code>"
            b"<return_msg><![CDATA[OK]]></return_msg></xml>"
        )
        failed = papay.acknowledge(accepted=False, message="签名错误]]>", retry=True)
        assert read_xml(failed.body) == {"return_code": "FAIL", "return_msg": "签名错误]]>"}


class TestContractsConfiguration:
    def test_both_settings_give_the_provider_contracts(self, apiv2_key: str) -> None:
        contracts = _provider().contracts
        assert isinstance(contracts, WechatPapay)
        gateway: ContractGateway = contracts
        assert (gateway.name, gateway.charge_hours) == ("wechatpay", (7, 22))

    def test_no_contracts_without_them(self, wechat_platform: WechatPlatform) -> None:
        assert _provider().contracts is None

    @pytest.mark.parametrize(
        "only", ["FRESHLOOP_WECHATPAY_APIV2_KEY", "FRESHLOOP_WECHATPAY_CONTRACT_PLAN_ID"]
    )
    def test_one_setting_without_the_other_is_refused(
        self, wechat_platform: WechatPlatform, monkeypatch: pytest.MonkeyPatch, only: str
    ) -> None:
        monkeypatch.setenv(only, "12535")
        providers_reset()
        with pytest.raises(PaymentsConfigurationError, match="both"):
            payments_config()
