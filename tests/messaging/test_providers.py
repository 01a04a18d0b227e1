"""The SMS providers against stand-ins of the gateways that check each request independently."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from freshloop.core import clock
from freshloop.core.outbox import DeliveryError, PermanentDeliveryError, ThrottledDeliveryError
from freshloop.messaging.errors import SmsReceiptMalformed
from freshloop.messaging.providers import (
    AliyunSmsProvider,
    SandboxSmsProvider,
    SmsMisconfigured,
    SmsProviderUnavailable,
    SmsRejected,
    SmsThrottled,
    TencentSmsProvider,
    aliyun_error,
    sms_provider,
    tencent_error,
)
from freshloop.messaging.sms_receipts import parse_aliyun_receipts, parse_tencent_receipts
from tests.messaging.helpers import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    TEMPLATES,
    TENCENT_APP_ID,
    TENCENT_SECRET_ID,
    TENCENT_SECRET_KEY,
    aliyun_expected_signature,
    aliyun_form,
    tencent_expected_authorization,
    use_gateway,
)

NOW = dt.datetime(2026, 5, 20, 1, 2, 3, tzinfo=dt.UTC)
PARAMS = {"code": "042917", "minutes": "5"}


def _transport(answer: Any, seen: list[httpx.Request], status: int = 200) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, bytes):
            return httpx.Response(status, content=answer)
        return httpx.Response(status, json=answer)

    return httpx.MockTransport(handle)


def _aliyun(answer: Any, seen: list[httpx.Request], status: int = 200) -> AliyunSmsProvider:
    return AliyunSmsProvider(
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret=ALIYUN_SECRET,
        sign_name="鲜环",
        templates=dict(TEMPLATES),
        transport=_transport(answer, seen, status),
        nonce=lambda: "nonce-1",
    )


def _tencent(answer: Any, seen: list[httpx.Request], status: int = 200) -> TencentSmsProvider:
    return TencentSmsProvider(
        secret_id=TENCENT_SECRET_ID,
        secret_key=TENCENT_SECRET_KEY,
        sdk_app_id=TENCENT_APP_ID,
        sign_name="鲜环",
        templates=dict(TEMPLATES),
        transport=_transport(answer, seen, status),
    )


def _send(provider: Any, phone: str = "+8613800138000", template: str = "login_code") -> str:
    with clock.frozen(NOW):
        return str(
            provider.send(phone_e164=phone, template=template, params=PARAMS, message_id="41")
        )


ALIYUN_OK = {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "r-1"}


class TestAliyunSend:
    def test_a_signed_sendsms_returns_the_bizid(self) -> None:
        # given Alibaba Cloud accepting the text
        seen: list[httpx.Request] = []
        # when a login code is sent
        biz_id = _send(_aliyun(ALIYUN_OK, seen))
        # then one POST carried every SendSms parameter, signed as Alibaba Cloud checks it
        assert biz_id == "900619746936498440^0"
        (request,) = seen
        assert request.method == "POST"
        assert str(request.url) == "https://dysmsapi.aliyuncs.com/"
        form = aliyun_form(request.content)
        assert form["Signature"] == aliyun_expected_signature("POST", form, ALIYUN_SECRET)
        assert {key: form[key] for key in form if key != "Signature"} == {
            "AccessKeyId": ALIYUN_KEY_ID,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": "41",
            "PhoneNumbers": "13800138000",
            "RegionId": "cn-hangzhou",
            "SignName": "鲜环",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": "nonce-1",
            "SignatureVersion": "1.0",
            "TemplateCode": "T-LOGIN",
            "TemplateParam": '{"code":"042917","minutes":"5"}',
            "Timestamp": "2026-05-20T01:02:03Z",
            "Version": "2017-05-25",
        }

    def test_numbers_outside_the_mainland_keep_their_country_code(self) -> None:
        seen: list[httpx.Request] = []
        _send(_aliyun(ALIYUN_OK, seen), phone="+85261234567")
        assert aliyun_form(seen[0].content)["PhoneNumbers"] == "85261234567"

    def test_a_purpose_without_a_template_is_refused_before_any_call(self) -> None:
        seen: list[httpx.Request] = []
        with pytest.raises(SmsMisconfigured, match="no template for purpose 'payment_notice'"):
            _send(_aliyun(ALIYUN_OK, seen), template="payment_notice")
        assert seen == []

    @pytest.mark.parametrize(
        ("code", "status", "error", "retry_after"),
        [
            ("isv.BUSINESS_LIMIT_CONTROL", 200, SmsThrottled, 60),
            ("isv.DAY_LIMIT_CONTROL", 200, SmsThrottled, 3600),
            ("Throttling.User", 400, SmsThrottled, 10),
            ("isv.MOBILE_NUMBER_ILLEGAL", 200, SmsRejected, None),
            ("isv.SMS_CONTENT_ILLEGAL", 200, SmsRejected, None),
            ("isv.SMS_TEMPLATE_ILLEGAL", 200, SmsMisconfigured, None),
            ("isv.SMS_SIGNATURE_ILLEGAL", 200, SmsMisconfigured, None),
            ("isv.AMOUNT_NOT_ENOUGH", 200, SmsMisconfigured, None),
            ("SignatureDoesNotMatch", 400, SmsMisconfigured, None),
            ("InvalidAccessKeyId.NotFound", 404, SmsMisconfigured, None),
            ("isp.SYSTEM_ERROR", 200, SmsProviderUnavailable, None),
            ("ServiceUnavailable", 503, SmsProviderUnavailable, None),
            ("isv.SOMETHING_NEW", 200, SmsProviderUnavailable, None),
        ],
    )
    def test_refusals_are_typed(
        self, code: str, status: int, error: type[DeliveryError], retry_after: int | None
    ) -> None:
        # given Alibaba Cloud refusing with `code`
        seen: list[httpx.Request] = []
        answer = {"Code": code, "Message": "refused", "RequestId": "r-2"}
        # then the refusal is the typed delivery error the relay acts on
        with pytest.raises(error) as refused:
            _send(_aliyun(answer, seen, status))
        assert refused.value.code == code  # type: ignore[attr-defined]
        assert code in str(refused.value)
        if retry_after is not None:
            assert isinstance(refused.value, ThrottledDeliveryError)
            assert refused.value.retry_after == retry_after
        # and only throttling and outages are retried; the rest fails for good
        retried = error in (SmsThrottled, SmsProviderUnavailable)
        assert isinstance(refused.value, PermanentDeliveryError) is not retried

    @pytest.mark.parametrize(
        "failure",
        [httpx.ConnectTimeout("slow"), httpx.ConnectError("refused"), b"<html>502</html>", []],
    )
    def test_an_unreachable_or_garbled_gateway_is_retried(self, failure: Any) -> None:
        with pytest.raises(SmsProviderUnavailable):
            _send(_aliyun(failure, [], 502 if isinstance(failure, bytes) else 200))

    def test_a_secret_never_reaches_the_error(self) -> None:
        with pytest.raises(SmsMisconfigured) as refused:
            _send(_aliyun({"Code": "SignatureDoesNotMatch", "Message": "bad"}, [], 400))
        assert ALIYUN_SECRET not in str(refused.value)


def _tencent_ok(serial: str = "2433:3292028726411612417261", code: str = "Ok") -> dict[str, Any]:
    return {
        "Response": {
            "SendStatusSet": [
                {
                    "SerialNo": serial,
                    "PhoneNumber": "+8613800138000",
                    "Fee": 1,
                    "SessionContext": "41",
                    "Code": code,
                    "Message": "send success" if code == "Ok" else "refused",
                    "IsoCode": "CN",
                }
            ],
            "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279",
        }
    }


class TestTencentSend:
    def test_a_tc3_signed_sendsms_returns_the_serial_number(self) -> None:
        # given Tencent Cloud accepting the text
        seen: list[httpx.Request] = []
        # when a login code is sent
        serial = _send(_tencent(_tencent_ok(), seen))
        # then the request is SendSms 2021-01-11, signed as Tencent Cloud checks it
        assert serial == "2433:3292028726411612417261"
        (request,) = seen
        headers = {key.lower(): value for key, value in request.headers.items()}
        assert str(request.url) == "https://sms.tencentcloudapi.com/"
        assert headers["host"] == "sms.tencentcloudapi.com"
        assert headers["x-tc-action"] == "SendSms"
        assert headers["x-tc-version"] == "2021-01-11"
        assert headers["x-tc-region"] == "ap-guangzhou"
        assert headers["x-tc-timestamp"] == str(int(NOW.timestamp()))
        assert headers["authorization"] == tencent_expected_authorization(
            headers=headers,
            body=request.content,
            secret_id=TENCENT_SECRET_ID,
            secret_key=TENCENT_SECRET_KEY,
            service="sms",
        )
        # and the template parameters go in the template's order ({1} code, {2} minutes)
        assert json.loads(request.content) == {
            "PhoneNumberSet": ["+8613800138000"],
            "SmsSdkAppId": TENCENT_APP_ID,
            "SignName": "鲜环",
            "TemplateId": "T-LOGIN",
            "TemplateParamSet": ["042917", "5"],
            "SessionContext": "41",
        }

    def test_a_tampered_body_would_not_verify(self) -> None:
        # the independent check is strict: the same headers over another body do not match
        seen: list[httpx.Request] = []
        _send(_tencent(_tencent_ok(), seen))
        headers = {key.lower(): value for key, value in seen[0].headers.items()}
        forged = tencent_expected_authorization(
            headers=headers,
            body=seen[0].content.replace(b"042917", b"000000"),
            secret_id=TENCENT_SECRET_ID,
            secret_key=TENCENT_SECRET_KEY,
            service="sms",
        )
        assert headers["authorization"] != forged

    @pytest.mark.parametrize(
        ("code", "error", "retry_after"),
        [
            ("LimitExceeded.PhoneNumberThirtySecondLimit", SmsThrottled, 30),
            ("LimitExceeded.PhoneNumberOneHourLimit", SmsThrottled, 3600),
            ("LimitExceeded.PhoneNumberDailyLimit", SmsThrottled, 3600),
            ("LimitExceeded.DeliveryFrequencyLimit", SmsThrottled, 60),
            ("InvalidParameterValue.IncorrectPhoneNumber", SmsRejected, None),
            ("FailedOperation.PhoneNumberInBlacklist", SmsRejected, None),
            ("FailedOperation.TemplateIncorrectOrUnapproved", SmsMisconfigured, None),
            ("FailedOperation.SignatureIncorrectOrUnapproved", SmsMisconfigured, None),
            ("FailedOperation.InsufficientBalanceInSmsPackage", SmsMisconfigured, None),
            ("InternalError.Timeout", SmsProviderUnavailable, None),
        ],
    )
    def test_per_number_refusals_are_typed(
        self, code: str, error: type[DeliveryError], retry_after: int | None
    ) -> None:
        with pytest.raises(error) as refused:
            _send(_tencent(_tencent_ok(serial="", code=code), []))
        if retry_after is not None:
            assert refused.value.retry_after == retry_after  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("code", "error"),
        [
            ("AuthFailure.SignatureFailure", SmsMisconfigured),
            ("AuthFailure.SecretIdNotFound", SmsMisconfigured),
            ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", SmsMisconfigured),
            ("RequestLimitExceeded", SmsThrottled),
            ("InternalError", SmsProviderUnavailable),
        ],
    )
    def test_request_errors_are_typed(self, code: str, error: type[DeliveryError]) -> None:
        answer = {"Response": {"Error": {"Code": code, "Message": "no"}, "RequestId": "r"}}
        with pytest.raises(error):
            _send(_tencent(answer, []))

    @pytest.mark.parametrize(
        "answer",
        [{"Response": {"SendStatusSet": []}}, {"Response": "?"}, {"unexpected": 1}, b"oops"],
    )
    def test_an_answer_without_a_status_is_retried(self, answer: Any) -> None:
        with pytest.raises(SmsProviderUnavailable):
            _send(_tencent(answer, []))


class TestErrorTables:
    def test_classifiers_cover_both_directions(self) -> None:
        assert isinstance(aliyun_error("isv.BUSINESS_LIMIT_CONTROL", ""), ThrottledDeliveryError)
        assert isinstance(tencent_error("LimitExceeded.AppDailyLimit", ""), ThrottledDeliveryError)
        assert not isinstance(aliyun_error("isp.SYSTEM_ERROR", ""), PermanentDeliveryError)
        assert isinstance(tencent_error("AuthFailure.InvalidSecretId", ""), PermanentDeliveryError)


class TestSmsProviderChoice:
    def test_the_settings_choose(self, settings: Any) -> None:
        assert isinstance(sms_provider(), SandboxSmsProvider)
        use_gateway(settings, "aliyun")
        assert isinstance(sms_provider(), AliyunSmsProvider)
        use_gateway(settings, "tencent")
        assert isinstance(sms_provider(), TencentSmsProvider)


class TestAliyunReceipts:
    def test_the_documented_example_parses(self) -> None:
        # the request example of https://help.aliyun.com/document_detail/101867.html
        body = json.dumps(
            [
                {
                    "phone_number": "1381111****",
                    "send_time": "2017-01-01 00:00:00",
                    "report_time": "2017-01-01 00:00:00",
                    "success": True,
                    "err_code": "DELIVERED",
                    "err_msg": "用户接收成功",
                    "sms_size": "1",
                    "biz_id": "12345",
                    "out_id": "67890",
                }
            ]
        ).encode()
        (receipt,) = parse_aliyun_receipts(body)
        assert receipt.provider_message_id == "12345"
        assert receipt.reference == "67890"
        assert receipt.delivered is True
        assert (receipt.error_code, receipt.error_message) == ("DELIVERED", "用户接收成功")
        # Beijing time, stored in UTC
        assert receipt.delivered_at == dt.datetime(2016, 12, 31, 16, 0, tzinfo=dt.UTC)

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b'{"biz_id": "1"}',
            b"[1, 2, 3]",
            b'[{"success": true}]',
            b'[{"biz_id": "1", "success": "yes"}]',
            b'[{"biz_id": ["1"], "success": true}]',
            b'[{"biz_id": "1", "success": true, "report_time": "yesterday"}]',
            b"\xff\xfe",
        ],
    )
    def test_malformed_pushes_are_refused(self, body: bytes) -> None:
        with pytest.raises(SmsReceiptMalformed):
            parse_aliyun_receipts(body)


class TestTencentReceipts:
    def test_the_documented_example_parses(self) -> None:
        # the request example of https://cloud.tencent.com/document/api/382/59178
        body = json.dumps(
            [
                {
                    "user_receive_time": "2015-10-17 08:03:04",
                    "nationcode": "86",
                    "mobile": "13xxxxxxxxx",
                    "report_status": "SUCCESS",
                    "errmsg": "DELIVRD",
                    "description": "用户短信送达成功",
                    "sid": "xxxxxxx",
                }
            ]
        ).encode()
        (receipt,) = parse_tencent_receipts(body)
        assert receipt.provider_message_id == "xxxxxxx"
        assert receipt.reference == ""
        assert receipt.delivered is True
        assert receipt.error_code == "DELIVRD"
        assert receipt.delivered_at == dt.datetime(2015, 10, 17, 0, 3, 4, tzinfo=dt.UTC)

    def test_a_failure_keeps_its_code(self) -> None:
        body = b'[{"report_status": "FAIL", "errmsg": "MK:0001", "description": "x", "sid": "s1"}]'
        (receipt,) = parse_tencent_receipts(body)
        assert (receipt.delivered, receipt.error_code, receipt.delivered_at) == (
            False,
            "MK:0001",
            None,
        )

    @pytest.mark.parametrize(
        "body",
        [
            b"[]x",
            b'[{"report_status": "SUCCESS"}]',
            b'[{"report_status": "MAYBE", "sid": "s"}]',
            b'[{"report_status": "SUCCESS", "sid": {"a": 1}}]',
            b'[{"report_status": "SUCCESS", "sid": "s", "user_receive_time": 5}]',
            b'"SUCCESS"',
        ],
    )
    def test_malformed_pushes_are_refused(self, body: bytes) -> None:
        with pytest.raises(SmsReceiptMalformed):
            parse_tencent_receipts(body)
