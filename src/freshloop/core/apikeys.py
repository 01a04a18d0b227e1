"""API keys for server-to-server callers, with scopes. Format: ``flk_<prefix>_<secret>``."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput, NotAuthenticated, PermissionDenied
from freshloop.core.models import ApiKey

KEY_PREFIX = "flk_"

# Every scope a key can hold; modules add theirs here so a typo fails loudly at creation.
SCOPES: dict[str, str] = {
    "identity:write": "识别/合并用户 (identify)",
    "identity:read": "按标识查询用户",
    "identity:export": "导出个人数据 (PIPL)",
    "identity:erase": "删除个人数据 (PIPL)",
}


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(*, actor: Actor, name: str, scopes: list[str]) -> tuple[str, ApiKey]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(
            "未知或缺少权限范围", detail={"unknown": unknown, "allowed": sorted(SCOPES)}
        )
    if not name.strip():
        raise InvalidInput("请填写名称")
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name.strip()[:100],
        prefix=prefix,
        key_hash=_hash(raw),
        scopes=sorted(set(scopes)),
        created_by=actor.label,
        created_at=clock.now(),
    )
    audit_record(
        actor=actor,
        action="api_key.create",
        target=key,
        after={"name": key.name, "scopes": key.scopes},
    )
    return raw, key


def api_key_authenticate(raw: str, *, scope: str) -> ApiKey:
    """Return the active key for `raw` holding `scope`; 401 for a bad key, 403 for a missing scope."""
    if not raw.startswith(KEY_PREFIX) or raw.count("_") < 2:
        raise NotAuthenticated("API 密钥无效")
    prefix = raw[len(KEY_PREFIX) :].split("_", 1)[0]
    key = ApiKey.objects.filter(prefix=prefix, is_active=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(raw)):
        raise NotAuthenticated("API 密钥无效")
    if scope not in key.scopes:
        raise PermissionDenied("API 密钥没有该权限", detail={"required_scope": scope})
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=clock.now())
    return key
