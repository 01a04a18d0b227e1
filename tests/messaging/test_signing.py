"""The SMS gateways' request signing, checked against the providers' own worked examples."""

from __future__ import annotations

import hashlib
import json

import pytest

from freshloop.messaging.signing import (
    aliyun_canonical_query,
    aliyun_percent_encode,
    aliyun_signature,
    aliyun_string_to_sign,
    tc3_sign,
)

# Tencent Cloud's worked example of TC3-HMAC-SHA256, published with every product's API 3.0
# documentation ("签名方法 v3" / "接口鉴权 v3"), e.g. https://cloud.tencent.com/document/api/400/37390
# and https://cloud.tencent.com/document/product/215/36792: CVM DescribeInstances in Guangzhou,
# SecretId AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE, SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE,
# X-TC-Timestamp 1551113065. The values below are copied from the page, not computed by us.
TENCENT_SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
TENCENT_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
TENCENT_TIMESTAMP = 1551113065
TENCENT_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
TENCENT_HASHED_PAYLOAD = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
TENCENT_CANONICAL_REQUEST = (
    "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
    "content-type;host\n" + TENCENT_HASHED_PAYLOAD
)
TENCENT_STRING_TO_SIGN = (
    "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
    "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
)
TENCENT_SIGNATURE = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
TENCENT_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
    "SignedHeaders=content-type;host, Signature=" + TENCENT_SIGNATURE
)

# Alibaba Cloud's worked example of the RPC HMAC-SHA1 signature for SMS SendSms, from the SMS
# documentation's "请求签名" page (https://help.aliyun.com/document_detail/101343.htm; its Java
# sample ends with the expected `Signature` value, zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D URL-encoded).
# AccessKeyId testId, AccessKeySecret testSecret; the page's original parameters (later copies of
# the page mask the phone number as 1530000****, for which no signature is given).
ALIYUN_SECRET = "testSecret"
ALIYUN_PARAMS = {
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "AccessKeyId": "testId",
    "SignatureVersion": "1.0",
    "Timestamp": "2017-07-12T02:42:19Z",
    "Format": "XML",
    "Action": "SendSms",
    "Version": "2017-05-25",
    "RegionId": "cn-hangzhou",
    "PhoneNumbers": "15300000001",
    "SignName": "阿里云短信测试专用",
    "TemplateParam": '{"customer":"test"}',
    "TemplateCode": "SMS_71390007",
    "OutId": "123",
}
ALIYUN_CANONICAL_QUERY = (
    "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001"
    "&RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95"
    "%E4%B8%93%E7%94%A8&SignatureMethod=HMAC-SHA1&SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466"
    "&SignatureVersion=1.0&TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D"
    "&Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
)
ALIYUN_SIGNATURE = "zJDF+Lrzhj/ThnlvIToysFRq6t4="


class TestTc3Sign:
    def test_matches_tencents_worked_example_step_by_step(self) -> None:
        # given the request of Tencent's worked example
        assert hashlib.sha256(TENCENT_PAYLOAD).hexdigest() == TENCENT_HASHED_PAYLOAD
        # when it is signed
        signed = tc3_sign(
            secret_id=TENCENT_SECRET_ID,
            secret_key=TENCENT_SECRET_KEY,
            service="cvm",
            host="cvm.tencentcloudapi.com",
            payload=TENCENT_PAYLOAD,
            timestamp=TENCENT_TIMESTAMP,
        )
        # then every intermediate string and the signature are the published ones
        assert signed.canonical_request == TENCENT_CANONICAL_REQUEST
        assert signed.string_to_sign == TENCENT_STRING_TO_SIGN
        assert signed.signature == TENCENT_SIGNATURE
        assert signed.authorization == TENCENT_AUTHORIZATION

    def test_the_date_is_utc_not_beijing(self) -> None:
        # 1551113065 is 2019-02-26 00:44:25 in Beijing: the scope must still say 2019-02-25
        signed = tc3_sign(
            secret_id="id",
            secret_key="key",
            service="sms",
            host="sms.tencentcloudapi.com",
            payload=b"{}",
            timestamp=TENCENT_TIMESTAMP,
        )
        assert "/2019-02-25/sms/tc3_request" in signed.authorization

    @pytest.mark.parametrize(
        "change",
        [
            {"secret_key": TENCENT_SECRET_KEY + "x"},
            {"payload": TENCENT_PAYLOAD + b" "},
            {"timestamp": TENCENT_TIMESTAMP + 1},
            {"host": "sms.tencentcloudapi.com"},
        ],
    )
    def test_any_change_changes_the_signature(self, change: dict[str, object]) -> None:
        arguments: dict[str, object] = {
            "secret_id": TENCENT_SECRET_ID,
            "secret_key": TENCENT_SECRET_KEY,
            "service": "cvm",
            "host": "cvm.tencentcloudapi.com",
            "payload": TENCENT_PAYLOAD,
            "timestamp": TENCENT_TIMESTAMP,
        } | change
        assert tc3_sign(**arguments).signature != TENCENT_SIGNATURE  # type: ignore[arg-type]


class TestAliyunSignature:
    def test_matches_alibabas_worked_example(self) -> None:
        # given the parameters of Alibaba Cloud's SendSms example
        # when they are canonicalised and signed for GET (the method of the example)
        canonical = aliyun_canonical_query(ALIYUN_PARAMS)
        signature = aliyun_signature("GET", ALIYUN_PARAMS, ALIYUN_SECRET)
        # then the query, the string to sign and the signature are the published ones
        assert canonical == ALIYUN_CANONICAL_QUERY
        assert aliyun_string_to_sign("GET", ALIYUN_PARAMS) == "GET&%2F&" + aliyun_percent_encode(
            ALIYUN_CANONICAL_QUERY
        )
        assert signature == ALIYUN_SIGNATURE
        assert aliyun_percent_encode(signature) == "zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D"

    def test_post_signs_its_own_method(self) -> None:
        assert aliyun_signature("POST", ALIYUN_PARAMS, ALIYUN_SECRET) != ALIYUN_SIGNATURE

    @pytest.mark.parametrize(
        ("raw", "encoded"),
        [(" ", "%20"), ("*", "%2A"), ("~", "~"), ("+", "%2B"), ("/", "%2F"), ("短", "%E7%9F%AD")],
    )
    def test_percent_encoding_is_rfc3986(self, raw: str, encoded: str) -> None:
        # the three places java.net.URLEncoder differs, and the ones that must be encoded
        assert aliyun_percent_encode(raw) == encoded

    def test_refuses_to_sign_a_signature(self) -> None:
        with pytest.raises(ValueError, match="Signature"):
            aliyun_signature("POST", {**ALIYUN_PARAMS, "Signature": "x"}, ALIYUN_SECRET)

    def test_template_params_are_signed_as_sent(self) -> None:
        params = {**ALIYUN_PARAMS, "TemplateParam": json.dumps({"code": "123456"})}
        assert aliyun_signature("GET", params, ALIYUN_SECRET) != ALIYUN_SIGNATURE
