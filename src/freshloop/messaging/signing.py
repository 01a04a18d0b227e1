"""Request signing of the two SMS gateways, written from their published algorithms.

- Alibaba Cloud (Dysmsapi, RPC style): HMAC-SHA1 signature version 1.0 — sort the parameters,
  percent-encode them per RFC 3986 (`~` kept, space as `%20`), sign
  `METHOD&%2F&percentEncode(canonicalized query)` with `AccessKeySecret + "&"`, Base64.
  https://help.aliyun.com/document_detail/101343.htm (短信服务「请求签名」)
- Tencent Cloud (API 3.0): TC3-HMAC-SHA256 — a canonical request (method, URI, query, signed
  headers `content-type;host`, SHA-256 of the body), a string to sign with the credential
  scope `<UTC date>/<service>/tc3_request`, and a key derived by HMAC-SHA256 over date,
  service and "tc3_request" from `"TC3" + SecretKey`.
  https://cloud.tencent.com/document/api/400/37390 (「接口鉴权 v3」, the page every product's
  API 3.0 documentation, SMS included, reproduces)

Both are checked in tests against the providers' own worked examples.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

TC3_ALGORITHM = "TC3-HMAC-SHA256"


# --- Alibaba Cloud RPC, HMAC-SHA1 ---------------------------------------------------------------


def aliyun_percent_encode(value: str) -> str:
    """RFC 3986 encoding as Alibaba Cloud signs it: only A-Z a-z 0-9 - _ . ~ stay as they are."""
    return quote(value, safe="-_.~")


def aliyun_canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{aliyun_percent_encode(key)}={aliyun_percent_encode(params[key])}"
        for key in sorted(params)
    )


def aliyun_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return (
        f"{method.upper()}&{aliyun_percent_encode('/')}&"
        f"{aliyun_percent_encode(aliyun_canonical_query(params))}"
    )


def aliyun_signature(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    """The `Signature` parameter (Base64, not yet URL-encoded) for `params` without it."""
    if "Signature" in params:
        raise ValueError("the parameters to sign must not contain Signature")
    digest = hmac.new(
        f"{access_key_secret}&".encode(),
        aliyun_string_to_sign(method, params).encode(),
        hashlib.sha1,
    ).digest()
    return base64.b64encode(digest).decode()


# --- Tencent Cloud API 3.0, TC3-HMAC-SHA256 -----------------------------------------------------


@dataclass(frozen=True)
class Tc3Signed:
    canonical_request: str
    string_to_sign: str
    signature: str
    authorization: str


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def tc3_sign(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    payload: bytes,
    timestamp: int,
    content_type: str = "application/json; charset=utf-8",
    method: str = "POST",
) -> Tc3Signed:
    """Sign one API 3.0 request whose body is `payload` (the exact bytes that are sent)."""
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    signed_headers = "content-type;host"
    canonical_request = "\n".join(
        [
            method.upper(),
            "/",
            "",  # the query string: empty for POST
            f"content-type:{content_type}\nhost:{host}\n",
            signed_headers,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            TC3_ALGORITHM,
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac_sha256(f"TC3{secret_key}".encode(), date)
    key = _hmac_sha256(key, service)
    key = _hmac_sha256(key, "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"{TC3_ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return Tc3Signed(
        canonical_request=canonical_request,
        string_to_sign=string_to_sign,
        signature=signature,
        authorization=authorization,
    )
