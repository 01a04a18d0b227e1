"""The back-office sidebar, grouped by module (django-unfold SIDEBAR.navigation)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse_lazy


def _can_view(perm: str) -> Any:
    return lambda request: request.user.has_perm(perm)


def _item(title: str, icon: str, app: str, model: str) -> dict[str, Any]:
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(f"admin:{app}_{model}_changelist"),
        "permission": _can_view(f"{app}.view_{model}"),
    }


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "title": "运营控制台",
            "items": [
                {"title": "返回控制台", "icon": "dashboard", "link": "/console/"},
                {"title": "后台首页", "icon": "home", "link": reverse_lazy("admin:index")},
            ],
        },
        {
            "title": "用户 OneID",
            "collapsible": True,
            "items": [
                _item("用户", "person", "identity", "person"),
                _item("疑似同一人(审核)", "fact_check", "identity", "matchcandidate"),
                _item("身份冲突", "report", "identity", "identityconflict"),
                _item("合并记录", "merge", "identity", "mergerecord"),
            ],
        },
        {
            "title": "商品与库存",
            "collapsible": True,
            "items": [
                _item("类目", "category", "catalog", "category"),
                _item("商品(SPU)", "inventory_2", "catalog", "product"),
                _item("SKU", "sell", "catalog", "sku"),
                _item("仓库", "warehouse", "inventory", "warehouse"),
            ],
        },
        {
            "title": "营销",
            "collapsible": True,
            "items": [
                _item("优惠券模板", "confirmation_number", "promotions", "coupontemplate"),
                _item("已发放优惠券", "redeem", "promotions", "coupon"),
                _item("营销活动", "campaign", "promotions", "campaign"),
            ],
        },
        {
            "title": "直播",
            "collapsible": True,
            "items": [
                _item("直播场次", "live_tv", "live", "livesession"),
                _item("评论", "chat", "live", "livecomment"),
                _item("观众", "groups", "live", "liveviewer"),
                _item("抽奖", "casino", "live", "luckydraw"),
                _item("秒杀", "bolt", "live", "flashsale"),
            ],
        },
        {
            "title": "数据中台",
            "collapsible": True,
            "items": [
                {"title": "数据看板与人群", "icon": "monitoring", "link": "/console/data/"},
                _item("获客花费", "request_quote", "datahub", "acquisitionspend"),
                _item("事件来源(写入密钥)", "key", "datahub", "eventsource"),
                _item("事件定义", "schema", "datahub", "eventdefinition"),
                _item("事件缓冲", "inbox", "datahub", "bufferedevent"),
            ],
        },
        {
            "title": "会员",
            "collapsible": True,
            "items": [
                _item("会员", "loyalty", "membership", "membership"),
                _item("积分流水", "receipt_long", "membership", "pointsentry"),
                _item("会员等级", "workspace_premium", "membership", "memberlevel"),
            ],
        },
        {
            "title": "支付",
            "collapsible": True,
            "items": [
                _item("支付单", "payments", "payments", "payment"),
                _item("支付回调记录", "receipt", "payments", "paymentnotificationlog"),
                _item("退款", "currency_exchange", "payments", "refund"),
            ],
        },
        {
            "title": "平台",
            "collapsible": True,
            "items": [
                _item("审计日志", "history", "core", "auditlog"),
                _item("外发消息(Outbox)", "outbox", "core", "outboxmessage"),
                _item("后台任务心跳", "monitor_heart", "core", "workerheartbeat"),
                _item("API 密钥", "key", "core", "apikey"),
            ],
        },
        {
            "title": "账号与权限",
            "collapsible": True,
            "items": [
                _item("员工账号", "badge", "auth", "user"),
                _item("角色", "groups", "auth", "group"),
            ],
        },
    ]
