"""The back-office sidebar, grouped by module (django-unfold SIDEBAR.navigation)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse_lazy

# (group title, ((item title, Material icon, "app_label.model_name" or a page path), ...)).
# A model item links to its list and shows only to staff who may view that model.
SECTIONS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "用户 OneID",
        (
            ("用户", "person", "identity.person"),
            ("疑似同一人(审核)", "fact_check", "identity.matchcandidate"),
            ("身份冲突", "report", "identity.identityconflict"),
            ("合并记录", "merge", "identity.mergerecord"),
        ),
    ),
    (
        "商品与库存",
        (
            ("类目", "category", "catalog.category"),
            ("商品(SPU)", "inventory_2", "catalog.product"),
            ("SKU", "sell", "catalog.sku"),
            ("仓库", "warehouse", "inventory.warehouse"),
        ),
    ),
    (
        "营销",
        (
            ("优惠券模板", "confirmation_number", "promotions.coupontemplate"),
            ("已发放优惠券", "redeem", "promotions.coupon"),
            ("营销活动", "campaign", "promotions.campaign"),
        ),
    ),
    (
        "直播",
        (
            ("直播场次", "live_tv", "live.livesession"),
            ("评论", "chat", "live.livecomment"),
            ("观众", "groups", "live.liveviewer"),
            ("抽奖", "casino", "live.luckydraw"),
            ("秒杀", "bolt", "live.flashsale"),
        ),
    ),
    (
        "团购",
        (
            ("团长", "storefront", "groupbuy.groupleader"),
            ("团长等级", "military_tech", "groupbuy.leaderlevel"),
            ("团长顾客", "group", "groupbuy.leadercustomer"),
            ("团长归属记录", "history", "groupbuy.leaderattachmentlog"),
            ("团长订单", "local_shipping", "groupbuy.leaderorder"),
            ("佣金规则", "percent", "groupbuy.commissionrule"),
            ("佣金记录", "paid", "groupbuy.commissionaccrual"),
            ("佣金账本", "account_balance", "groupbuy.ledgertransaction"),
            ("佣金结算批次", "request_quote", "groupbuy.settlementrun"),
            ("佣金结算单", "receipt", "groupbuy.settlementstatement"),
            ("预售", "event_upcoming", "groupbuy.presale"),
            ("预售订单", "receipt_long", "groupbuy.presalepurchase"),
            ("团长培训课程", "school", "groupbuy.trainingcourse"),
            ("培训测验记录", "quiz", "groupbuy.quizattempt"),
        ),
    ),
    (
        "数据中台",
        (
            ("数据看板与人群", "monitoring", "/console/data/"),
            ("智能分析(预测模型)", "psychology", "/console/intelligence/"),
            ("获客花费", "request_quote", "datahub.acquisitionspend"),
            ("事件来源(写入密钥)", "key", "datahub.eventsource"),
            ("事件定义", "schema", "datahub.eventdefinition"),
            ("事件缓冲", "inbox", "datahub.bufferedevent"),
        ),
    ),
    (
        "会员",
        (
            ("会员", "loyalty", "membership.membership"),
            ("积分流水", "receipt_long", "membership.pointsentry"),
            ("会员等级", "workspace_premium", "membership.memberlevel"),
        ),
    ),
    (
        "订单与售后",
        (
            ("订单", "receipt_long", "orders.order"),
            ("退款申请", "undo", "orders.refundrequest"),
            ("售后工单", "support_agent", "orders.aftersalescase"),
            ("运费模板", "local_shipping", "orders.shippingrule"),
        ),
    ),
    (
        "支付",
        (
            ("支付单", "payments", "payments.payment"),
            ("支付回调记录", "receipt", "payments.paymentnotificationlog"),
            ("退款", "currency_exchange", "payments.refund"),
            ("代扣协议", "autorenew", "payments.paymentcontract"),
            ("微信支付平台证书", "verified", "payments.wechatplatformcertificate"),
        ),
    ),
    (
        "平台",
        (
            ("审计日志", "history", "core.auditlog"),
            ("外发消息(Outbox)", "outbox", "core.outboxmessage"),
            ("短信回执", "sms", "messaging.smsdelivery"),
            ("消息发送判定", "rule", "messaging.marketingdispatch"),
            ("营销消息订阅", "unsubscribe", "messaging.marketingconsent"),
            ("后台任务心跳", "monitor_heart", "core.workerheartbeat"),
            ("API 密钥", "key", "core.apikey"),
        ),
    ),
    (
        "账号与权限",
        (
            ("员工账号", "badge", "auth.user"),
            ("角色", "groups", "auth.group"),
        ),
    ),
)


def _can_view(perm: str) -> Any:
    return lambda request: request.user.has_perm(perm)


def _item(title: str, icon: str, target: str) -> dict[str, Any]:
    if target.startswith("/"):
        return {"title": title, "icon": icon, "link": target}
    app, model = target.split(".")
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(f"admin:{app}_{model}_changelist"),
        "permission": _can_view(f"{app}.view_{model}"),
    }


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    console = {
        "title": "运营控制台",
        "items": [
            _item("返回控制台", "dashboard", "/console/"),
            {"title": "后台首页", "icon": "home", "link": reverse_lazy("admin:index")},
        ],
    }
    return [
        console,
        *(
            {"title": title, "collapsible": True, "items": [_item(*item) for item in items]}
            for title, items in SECTIONS
        ),
    ]
