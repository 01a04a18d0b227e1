"""Stand-ins for the SMS gateways: request checks written from the providers' documents
(independently of messaging.signing), and a local HTTP server that plays a gateway."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote

from config.env import SmsGatewaySettings

ALIYUN_KEY_ID = "LTAI-test-key"
ALIYUN_SECRET = "aliyun-test-secret"
TENCENT_SECRET_ID = "AKID-test-id"
TENCENT_SECRET_KEY = "tencent-test-key"
TENCENT_APP_ID = "1400006666"
RECEIPT_TOKEN = "receipt-token-1"
TEMPLATES = {"login_code": "T-LOGIN", "live_reminder": "T-LIVE"}


def gateway_settings(**changes: Any) -> SmsGatewaySettings:
    return dataclasses.replace(
        SmsGatewaySettings(
            sign_name="鲜环",
            templates=dict(TEMPLATES),
            aliyun_access_key_id=ALIYUN_KEY_ID,
            aliyun_access_key_secret=ALIYUN_SECRET,
            tencent_secret_id=TENCENT_SECRET_ID,
            tencent_secret_key=TENCENT_SECRET_KEY,
            tencent_sdk_app_id=TENCENT_APP_ID,
            receipt_token=RECEIPT_TOKEN,
        ),
        **changes,
    )


def use_gateway(settings: Any, provider: str, **changes: Any) -> None:
    """Point the running settings at `provider` (pytest-django's `settings` fixture)."""
    settings.FRESHLOOP = dataclasses.replace(
        settings.FRESHLOOP, sms_provider=provider, sms_gateway=gateway_settings(**changes)
    )


# --- independent checks of the signatures -------------------------------------------------------


def aliyun_expected_signature(method: str, params: dict[str, str], secret: str) -> str:
    """Alibaba Cloud RPC signature, following the SMS "请求签名" page step by step."""

    def special_url_encode(value: str) -> str:
        # URLEncoder.encode, then "+" → "%20", "*" → "%2A", "%7E" → "~" (the page's recipe)
        return quote(value, safe="*~").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    sorted_query = "&".join(
        f"{special_url_encode(key)}={special_url_encode(params[key])}"
        for key in sorted(params)
        if key != "Signature"
    )
    string_to_sign = f"{method}&{special_url_encode('/')}&{special_url_encode(sorted_query)}"
    mac = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def tencent_expected_authorization(
    *, headers: dict[str, str], body: bytes, secret_id: str, secret_key: str, service: str
) -> str:
    """TC3-HMAC-SHA256 from the headers that were actually sent, per "签名方法 v3"."""
    timestamp = int(headers["x-tc-timestamp"])
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).date().isoformat()
    canonical = (
        f"POST\n/\n\ncontent-type:{headers['content-type']}\nhost:{headers['host']}\n\n"
        f"content-type;host\n{hashlib.sha256(body).hexdigest()}"
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    )

    def step(key: bytes, message: str) -> bytes:
        return hmac.new(key, message.encode(), hashlib.sha256).digest()

    signing_key = step(step(step(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


def aliyun_form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


# --- a gateway on a local port ----------------------------------------------------------------


@dataclasses.dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[Seen], tuple[int, Any]]


@contextmanager
def local_gateway(answer: Answer) -> Iterator[tuple[str, list[Seen]]]:
    """An HTTP server on 127.0.0.1 that records each POST and answers it with `answer`."""
    seen: list[Seen] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = Seen(
                path=self.path,
                headers={key.lower(): value for key, value in self.headers.items()},
                body=self.rfile.read(length),
            )
            seen.append(request)
            status, payload = answer(request)
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
