"""WeCom's callback crypto written out independently of wechatpy (加解密方案说明), with
`cryptography`: AES-256-CBC, key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padded to
32-byte blocks, plaintext = 16 random bytes + 4-byte big-endian length + message + corp id;
msg_signature = sha1 over the sorted [token, timestamp, nonce, encrypted]."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import struct
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from config.env import WecomSettings

# The official sample of the WeCom docs (加解密方案说明 and the WXBizMsgCrypt samples).
SAMPLE_TOKEN = "QDG6eK"
SAMPLE_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SAMPLE_CORP_ID = "wx5823bf96d3bd56c7"
# URL verification (GET)
SAMPLE_VERIFY = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
SAMPLE_ECHO_PLAIN = "1616140317555161061"
# A message callback (POST)
SAMPLE_POST_QUERY = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
}
SAMPLE_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj9"
    "11L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOd"
    "nLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v"
    "+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNel"
    "ZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
SAMPLE_POST_BODY = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
    f"<Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt>"
    "<AgentID><![CDATA[218]]></AgentID></xml>"
)
SAMPLE_POST_PLAIN = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n"
    "<AgentID>218</AgentID>\n"
    "</xml>"
)


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 — the protocol is sha1


def _key(aes_key: str) -> bytes:
    return base64.b64decode(aes_key + "=")


def decrypt(aes_key: str, encrypted: str) -> tuple[bytes, bytes]:
    """(message, receive id) of an encrypted callback."""
    key = _key(aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    pad = padded[-1]
    assert 1 <= pad <= 32, "PKCS#7 with 32-byte blocks"
    plain = padded[:-pad]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length], plain[20 + length :]


def encrypt(aes_key: str, message: str, corp_id: str, *, random16: bytes | None = None) -> str:
    key = _key(aes_key)
    body = (random16 or os.urandom(16)) + struct.pack(">I", len(message.encode()))
    body += message.encode() + corp_id.encode()
    pad = 32 - len(body) % 32
    body += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()


def use_callback(settings: Any, *, corp_id: str = SAMPLE_CORP_ID, max_age: int = 300) -> None:
    """Turn the callback on with the docs' sample token and key."""
    settings.FRESHLOOP = dataclasses.replace(
        settings.FRESHLOOP,
        wecom=WecomSettings(
            corp_id=corp_id,
            contact_secret="contact-secret" if corp_id else "",
            callback_token=SAMPLE_TOKEN,
            callback_aes_key=SAMPLE_AES_KEY,
            callback_max_age_seconds=max_age,
        ),
    )


def signed_callback(
    plain_xml: str, *, timestamp: str, nonce: str = "1372623149", corp_id: str = SAMPLE_CORP_ID
) -> tuple[dict[str, str], str]:
    """(query, body) of a callback as WeCom would send it, made with the independent code."""
    encrypted = encrypt(SAMPLE_AES_KEY, plain_xml, corp_id)
    query = {
        "msg_signature": signature(SAMPLE_TOKEN, timestamp, nonce, encrypted),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    body = (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    )
    return query, body


def contact_event_xml(
    *, change_type: str = "add_external_contact", create_time: int, external_userid: str = "wmEXT1"
) -> str:
    return (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>"
        "<UserID><![CDATA[zhangsan]]></UserID>"
        f"<ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID>"
        "<State><![CDATA[live_room_42]]></State>"
        "<WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>"
    )


def chat_event_xml(*, create_time: int, change_type: str = "update") -> str:
    return (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        "<ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId>"
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>"
        "<UpdateDetail><![CDATA[add_member]]></UpdateDetail>"
        "<JoinScene>1</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>2</MemChangeCnt>"
        "<MemChangeList><Item>wmEXT1</Item><Item>wmEXT2</Item></MemChangeList></xml>"
    )
