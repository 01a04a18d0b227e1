"""Page shells: the operator console (/console/) and the consumer H5 site (/m/)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from freshloop.core.errors import DomainError
from freshloop.core.http import STATUS_ERRORS, error_response
from freshloop.core.outages import outage_response
from freshloop.core.permissions import ROLE_LABELS, user_is_admin, user_roles
from freshloop.identity.auth import consumer_from_request, wechat_oauth_finish
from freshloop.identity.errors import TokenInvalid
from freshloop.identity.providers import SandboxWechatOAuthProvider, wechat_oauth_provider
from freshloop.web import role_homes
from freshloop.web.forms import OperatorAuthenticationForm


@dataclass(frozen=True)
class ConsoleArea:
    key: str
    title: str
    icon: str
    spec_ids: str
    summary: str
    link: str = ""
    planned_in: str = ""


CONSOLE_AREAS: list[ConsoleArea] = [
    ConsoleArea(
        "live",
        "直播间",
        "播",
        "LV-1…LV-5",
        "排期直播与预约提醒、推拉流地址、主播控制台：置顶商品、秒杀、直播专享券、抽奖、禁言，实时在线与成交。",
        link="/admin/live/livesession/",
    ),
    ConsoleArea(
        "people",
        "用户 OneID",
        "人",
        "ID-1…ID-6",
        "直播间、商城、企业微信、抖音、门店的同一个人合并为一个 OneID：标识、合并历史、冲突审核、导出与删除。",
        link="/admin/identity/person/",
    ),
    ConsoleArea(
        "datahub",
        "数据看板",
        "数",
        "DH-1…DH-6",
        "转化漏斗、获客成本、复购率、留存同期群、渠道结构；标签、人群圈选与 360° 用户画像。",
        link="/console/data/",
    ),
    ConsoleArea(
        "intelligence",
        "智能分析",
        "智",
        "DH-7, DH-8, SC-3",
        "流失风险、30天购买概率、终身价值、最佳触达时段；直播备货预测与缺货预警；企业群发预算的智能排期。",
        link="/console/intelligence/",
    ),
    ConsoleArea(
        "catalog",
        "商品与库存",
        "货",
        "BM-1, BM-2",
        "SPU/SKU、储存条件(常温/冷藏/冷冻)、保质期、产地与认证、批次、分仓库存、预占、盘点。",
        link="/admin/catalog/product/",
    ),
    ConsoleArea(
        "orders",
        "订单与支付",
        "单",
        "BM-3",
        "订单状态机与时间线、微信支付/支付宝/沙箱支付、退款审核；每一单的价格逐行说明。",
        link="/admin/orders/order/",
    ),
    ConsoleArea(
        "marketing",
        "营销",
        "券",
        "BM-4, BM-5",
        "优惠券（立减/折扣/满减/免运费/直播专享/新客）、兑换码、满减阶梯与限时价、预算与叠加规则；会员等级与积分。",
        link="/admin/promotions/coupontemplate/",
    ),
    ConsoleArea(
        "scrm",
        "企微 SCRM 与社群",
        "群",
        "SC-1…SC-3, LV-5",
        "企业微信客户与标签、自动化 SOP、群发频控与静默时段、社群活动与健康度。",
        link="/console/scrm/",
    ),
    ConsoleArea(
        "fulfillment",
        "履约与冷链",
        "运",
        "FF-1…FF-4",
        "智能分仓、先到期先出、冷链温度曲线与超温告警、自动售后。",
    ),
    ConsoleArea(
        "groupbuy",
        "社区团购与团长",
        "团",
        "GB-1…GB-4",
        "团长入驻与工作台、多级佣金与结算、拼团、预售。",
        link="/console/groupbuy/",
    ),
    ConsoleArea(
        "food",
        "食品特色",
        "食",
        "FD-1…FD-6",
        "周期购订阅、家庭食品柜与临期提醒、批次溯源、食谱推荐、区域商品池、二十四节气营销日历。",
    ),
]


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged-in staff or holders of any role; consumers never reach the console."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (request.user.is_staff or user_roles(request.user)):
            return render(request, "web/console/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


@operator_required
def console_home(request: HttpRequest) -> HttpResponse:
    """A person with one role lands on that role's home; an admin or a holder of several roles
    gets the overview of every area with a link to each of their homes."""
    homes = role_homes.homes_for(request.user)
    if len(homes) == 1 and not user_is_admin(request.user):
        return _role_home_page(request, homes[0])
    roles = [ROLE_LABELS[role] for role in sorted(user_roles(request.user))]
    return render(
        request,
        "web/console/home.html",
        {"areas": CONSOLE_AREAS, "roles": roles, "homes": homes},
    )


@operator_required
def console_role_home(request: HttpRequest, role: str) -> HttpResponse:
    home = next((home for home in role_homes.homes_for(request.user) if home.role == role), None)
    if home is None:
        # Unknown role names and another role's home answer alike: nothing to see here.
        return render(request, "web/console/forbidden.html", status=403)
    return _role_home_page(request, home)


def _role_home_page(request: HttpRequest, home: role_homes.RoleHome) -> HttpResponse:
    if home.redirect_to:
        return HttpResponseRedirect(home.redirect_to)
    context = {
        "home": home,
        "homes": role_homes.homes_for(request.user),
        **home.context(request),
    }
    return render(request, home.template, context)


class ConsoleLoginView(LoginView):
    template_name = "web/console/login.html"
    authentication_form = OperatorAuthenticationForm
    redirect_authenticated_user = True


@require_POST
def console_logout(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    return HttpResponseRedirect("/console/login/")


def _current_consumer(request: HttpRequest) -> Any:
    try:
        return consumer_from_request(request)
    except TokenInvalid:
        return None


H5_LOGIN_PREFIXES = ("/m/", "/leader/", "/g/")


def _safe_next(request: HttpRequest) -> str:
    """Only pages of the H5 site (the shop, the leader console, a leader's invite landing)
    may follow a login; anything else goes to the account page."""
    wanted = request.GET.get("next", "")
    if wanted.startswith(H5_LOGIN_PREFIXES) and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts=None
    ):
        return wanted
    return "/m/me"


def h5_login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if _current_consumer(request) is not None:
        return HttpResponseRedirect(next_url)
    return render(request, "web/h5/login.html", {"next": next_url})


@require_http_methods(["GET", "POST"])
def h5_wechat_sandbox(request: HttpRequest) -> HttpResponse:
    """Offline stand-in for WeChat's consent screen (sandbox provider only)."""
    provider = wechat_oauth_provider()
    if not isinstance(provider, SandboxWechatOAuthProvider):
        return render(request, "web/h5/error.html", {"message": "当前未启用微信沙箱"}, status=404)
    state = request.GET.get("state", "")
    redirect_uri = request.GET.get("redirect_uri", "")
    if request.method == "POST":
        openid = (request.POST.get("openid") or "").strip()[:64] or "sandbox-openid-demo"
        nickname = (request.POST.get("nickname") or "").strip()[:32] or "微信用户"
        code = provider.mint_code(openid=openid, nickname=nickname, unionid=f"union-{openid}")
        return HttpResponseRedirect(f"/m/auth/wechat/callback?code={code}&state={state}")
    return render(
        request, "web/h5/wechat_sandbox.html", {"state": state, "redirect_uri": redirect_uri}
    )


def h5_wechat_callback(request: HttpRequest) -> HttpResponse:
    try:
        _, next_url = wechat_oauth_finish(
            request,
            provider=wechat_oauth_provider(),
            code=request.GET.get("code", ""),
            state=request.GET.get("state", ""),
        )
    except DomainError as error:
        return render(request, "web/h5/error.html", {"message": error.text}, status=error.status)
    return HttpResponseRedirect(next_url)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        code, message = STATUS_ERRORS[404]
        return error_response(404, code, message, {"path": request.path})
    return render(request, "404.html", status=404)


def handler500(request: HttpRequest) -> HttpResponse:
    # Django calls this while the exception is being handled (one raised in a middleware,
    # e.g. a session saved on the way out): a database or Redis outage answers 503.
    exception = sys.exc_info()[1]
    if exception is not None and (outage := outage_response(request, exception)) is not None:
        return outage
    if _wants_json(request):
        code, message = STATUS_ERRORS[500]
        return error_response(
            500, code, message, {"request_id": getattr(request, "request_id", "")}
        )
    return render(request, "500.html", status=500)


def handler400(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse | JsonResponse:
    code, message = STATUS_ERRORS[400]
    if _wants_json(request):
        return error_response(400, code, message, None)
    return render(request, "web/h5/error.html", {"message": message}, status=400)
