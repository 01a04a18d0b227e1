"""What the `track` API takes and answers: the batch and its answer, and the registered event
schemas each event's properties are checked against.

Built-in events cover every touchpoint the system knows; operators register more in the back
office (`EventDefinition`, read through `ingestion.selectors.registered_schemas`). An
unregistered name is accepted only when the event says `"custom": true` — then its properties
are free-form (still bounded JSON). Validation (`ingestion.validation`) returns every problem of
an event at once as `errors.FieldError`s, each with the field path, a machine code and a Chinese
message, so a client can fix a batch in one round.
"""

from __future__ import annotations

import re
from typing import Any

from ninja import Schema

FieldSpec = dict[str, Any]

MAX_BATCH = 1000
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ID_LENGTH = 64
MAX_PROPERTIES_BYTES = 8 * 1024

FIELD_TYPE_LABELS = {
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

# Facts the system itself records (domain events, see `ingestion.subscribers`), beside the
# touchpoint events of BUILTIN_EVENTS.
SERVER_EVENT_LABELS: dict[str, str] = {
    "order_created": "下单",
    "order_paid": "支付成功",
    "order_cancelled": "订单取消",
    "order_allocated": "订单分仓",
    "order_shipped": "订单发货",
    "order_delivered": "订单送达",
    "order_completed": "订单完成",
    "order_refund_requested": "申请退款",
    "order_refund_approved": "同意退款",
    "order_refunded": "退款完成",
    "order_refund_rejected": "退款被拒绝",
    "live_order": "直播间下单",
    "live_pay": "直播间支付",
    "live_add_to_cart": "直播加购",
    "coupons_issued": "获得优惠券",
    "coupon_used": "使用优惠券",
    "member_level_changed": "会员等级变化",
    "identity_merged": "OneID 合并",
    "identity_split": "OneID 拆分",
    "person_created": "新用户",
    "consumer_logged_in": "登录",
    "flash_sale_claimed": "抢到秒杀",
    "flash_sale_claim_closed": "秒杀订单结束",
}


def field_spec_validate(fields: Any) -> list[str]:
    """Problems in an operator-entered `EventDefinition.fields` (for the admin form)."""
    if not isinstance(fields, dict):
        return ["属性定义应为对象：{属性名: {type, required}}"]
    problems = []
    for name, spec in fields.items():
        if not NAME_PATTERN.match(str(name)):
            problems.append(f"属性名 {name} 只能用小写字母、数字和下划线")
        if not isinstance(spec, dict) or spec.get("type") not in FIELD_TYPE_LABELS:
            problems.append(f"属性 {name} 的 type 应为 {', '.join(FIELD_TYPE_LABELS)} 之一")
    return problems


class TrackOut(Schema):
    accepted: int
    duplicates: int
    rejected: int
    errors: list[dict[str, Any]]


# One event as documented in OpenAPI: the fields are checked by `ingestion.validation` (which
# answers every problem of every event at once), other keys are ignored (docs/datahub.md).
_EVENT_OPENAPI = {
    "type": "object",
    "required": ["event_id", "name", "occurred_at"],
    "properties": {
        "event_id": {"type": "string", "maxLength": 64},
        "name": {"type": "string", "example": "add_to_cart"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "identifiers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "example": "device_id"},
                    "value": {"type": "string"},
                    "scope": {"type": "string"},
                },
            },
        },
        "one_id": {"type": "string"},
        "session_id": {"type": "string"},
        "live_session": {"type": "string"},
        "custom": {"type": "boolean"},
        "properties": {"type": "object"},
    },
}
_BATCH_OPENAPI = {"type": "array", "maxItems": MAX_BATCH, "items": _EVENT_OPENAPI}

# The body as documented in OpenAPI: `{"batch": [...]}` or the bare array (the endpoint parses
# the body itself: it may be gzip, and a bad event must not fail the good ones around it).
TRACK_BODY_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["batch"],
                            "properties": {"batch": _BATCH_OPENAPI},
                        },
                        _BATCH_OPENAPI,
                    ]
                }
            }
        },
    }
}
