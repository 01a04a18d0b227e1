"""Registered event schemas and the per-event validator of the `track` API.

Built-in events cover every touchpoint the system knows; operators register more in the back
office (`EventDefinition`). An unregistered name is accepted only when the event says
`"custom": true` — then its properties are free-form (still bounded JSON). Validation returns
every problem of an event at once, each with the field path, a machine code and a Chinese
message, so a client can fix a batch in one round.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

from freshloop.datahub.models import EventDefinition

FieldSpec = dict[str, Any]

_TYPE_LABELS = {
    "string": "字符串",
    "integer": "整数",
    "number": "数字",
    "boolean": "布尔值",
    "object": "对象",
    "array": "数组",
}


def _f(kind: str, *, required: bool = False, max_length: int | None = None) -> FieldSpec:
    spec: FieldSpec = {"type": kind, "required": required}
    if max_length is not None:
        spec["max_length"] = max_length
    return spec


# name → (label, properties). Live-room events also need `live_session` on the envelope.
BUILTIN_EVENTS: dict[str, tuple[str, dict[str, FieldSpec]]] = {
    "page_view": (
        "浏览页面",
        {
            "path": _f("string", required=True, max_length=512),
            "title": _f("string", max_length=128),
        },
    ),
    "product_view": (
        "浏览商品",
        {"product_id": _f("integer", required=True), "sku_id": _f("integer")},
    ),
    "search": ("搜索", {"query": _f("string", required=True, max_length=100)}),
    "add_to_cart": (
        "加入购物车",
        {"sku_id": _f("integer", required=True), "quantity": _f("integer")},
    ),
    "checkout_start": ("发起结算", {"amount_fen": _f("integer")}),
    "order_created": (
        "下单",
        {"order_no": _f("string", required=True, max_length=40), "amount_fen": _f("integer")},
    ),
    "order_paid": (
        "支付成功",
        {
            "order_no": _f("string", required=True, max_length=40),
            "amount_fen": _f("integer", required=True),
        },
    ),
    "coupon_receive": (
        "领取优惠券",
        {"coupon_id": _f("integer"), "template_code": _f("string", max_length=64)},
    ),
    "share": ("分享", {"target": _f("string", max_length=64)}),
    "live_join": ("进入直播间", {}),
    "live_leave": ("离开直播间", {"dwell_seconds": _f("integer")}),
    "live_heartbeat": ("直播心跳", {"dwell_seconds": _f("integer")}),
    "live_click_product": ("点击直播商品", {"sku_id": _f("integer", required=True)}),
    "live_comment": ("直播评论", {"length": _f("integer")}),
    "live_like": ("直播点赞", {"count": _f("integer")}),
    "live_add_to_cart": (
        "直播加购",
        {"sku_id": _f("integer", required=True), "quantity": _f("integer")},
    ),
    "wecom_add_contact": ("添加企微好友", {"staff_userid": _f("string", max_length=64)}),
    "wecom_message": ("企微会话", {"direction": _f("string", max_length=8)}),
    "wecom_join_group": ("加入社群", {"group_id": _f("string", max_length=64)}),
    "store_visit": ("到店", {"store_code": _f("string", required=True, max_length=32)}),
    "pos_purchase": (
        "门店消费",
        {
            "store_code": _f("string", required=True, max_length=32),
            "amount_fen": _f("integer", required=True),
        },
    ),
    "groupbuy_join": ("参与拼团", {"deal_id": _f("integer")}),
}
LIVE_EVENTS = {name for name in BUILTIN_EVENTS if name.startswith("live_")}

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ID_LENGTH = 64
MAX_PROPERTIES_BYTES = 8 * 1024
_definitions_cache: tuple[float, dict[str, dict[str, FieldSpec]]] = (0.0, {})
DEFINITIONS_TTL_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


def registered_schemas() -> dict[str, dict[str, FieldSpec]]:
    """Built-in schemas overlaid with the operators' definitions (cached for 30 s)."""
    global _definitions_cache
    loaded_at, schemas = _definitions_cache
    if time.monotonic() - loaded_at < DEFINITIONS_TTL_SECONDS and schemas:
        return schemas
    schemas = {name: fields for name, (_, fields) in BUILTIN_EVENTS.items()}
    for definition in EventDefinition.objects.filter(is_active=True):
        schemas[definition.name] = dict(definition.fields or {})
    _definitions_cache = (time.monotonic(), schemas)
    return schemas


def definitions_changed() -> None:
    global _definitions_cache
    _definitions_cache = (0.0, {})


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return False


def properties_validate(
    fields: dict[str, FieldSpec], properties: dict[str, Any]
) -> list[FieldError]:
    errors: list[FieldError] = []
    for field_name, spec in fields.items():
        path = f"properties.{field_name}"
        if field_name not in properties or properties[field_name] is None:
            if spec.get("required"):
                errors.append(FieldError(path, "required", "缺少必填属性"))
            continue
        value = properties[field_name]
        kind = str(spec.get("type", "string"))
        if not _type_ok(kind, value):
            errors.append(FieldError(path, "type", f"应为{_TYPE_LABELS.get(kind, kind)}"))
            continue
        max_length = spec.get("max_length")
        if kind == "string" and max_length and len(value) > int(max_length):
            errors.append(FieldError(path, "too_long", f"不能超过 {max_length} 个字符"))
    return errors


def field_spec_validate(fields: Any) -> list[str]:
    """Problems in an operator-entered `EventDefinition.fields` (for the admin form)."""
    if not isinstance(fields, dict):
        return ["属性定义应为对象：{属性名: {type, required}}"]
    problems = []
    for name, spec in fields.items():
        if not NAME_PATTERN.match(str(name)):
            problems.append(f"属性名 {name} 只能用小写字母、数字和下划线")
        if not isinstance(spec, dict) or spec.get("type") not in _TYPE_LABELS:
            problems.append(f"属性 {name} 的 type 应为 {', '.join(_TYPE_LABELS)} 之一")
    return problems
