"""Identity API: consumer login (phone code, WeChat), who am I, and OneID for sources and operators."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from ninja import Query, Router, Schema, Status

from freshloop.core import clock
from freshloop.core.api import ApiKeyAuth, OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.errors import RateLimited, RateLimiterUnavailable
from freshloop.core.net import client_ip
from freshloop.core.permissions import Role
from freshloop.identity.auth import (
    ConsumerAuth,
    consumer_session_login,
    request_person,
    wechat_oauth_begin,
)
from freshloop.identity.errors import (
    ConflictingIdentifiers,
    InvalidIdentifier,
    InvalidPhone,
    JsSdkUrlInvalid,
    OccurredAtInvalid,
    OtpInvalid,
    OtpLocked,
    PersonErased,
    PersonNotFound,
    SplitInvalid,
    TooManyIdentifiers,
    WechatUnavailable,
)
from freshloop.identity.privacy import person_erase, person_export, person_get
from freshloop.identity.providers import jssdk_config, wechat_oauth_provider
from freshloop.identity.resolver import IdentifierInput, identify, person_split
from freshloop.identity.schemas import (
    EraseIn,
    IdentifierOut,
    IdentifyIn,
    IdentifyOut,
    JsSdkConfigOut,
    JsSdkConfigQuery,
    LoginOut,
    MeOut,
    OtpRequestIn,
    OtpRequestOut,
    OtpVerifyIn,
    PersonOut,
    SplitIn,
)
from freshloop.identity.selectors import (
    person_by_identifier,
    person_identifiers_masked,
    person_summary,
)
from freshloop.identity.services import consumer_token_revoke, otp_request, otp_verify

router = Router(tags=["认证 auth"])
me_router = Router(tags=["当前用户 me"], auth=ConsumerAuth())
oneid_router = Router(tags=["OneID 用户身份"])


@router.post("/otp", response={202: OtpRequestOut}, summary="发送登录验证码")
@raises(InvalidPhone, RateLimited, OtpLocked, RateLimiterUnavailable)
def request_code(request: HttpRequest, body: OtpRequestIn) -> Status[OtpRequestOut]:
    result = otp_request(phone=body.phone, ip_address=client_ip(request))
    return Status(
        202,
        OtpRequestOut(
            expires_in=result.expires_in,
            resend_after=result.resend_after,
            sandbox_code=result.sandbox_code,
        ),
    )


@router.post("/otp/verify", response=LoginOut, summary="验证码登录（首次登录即注册）")
@raises(
    OtpInvalid,
    OtpLocked,
    InvalidPhone,
    InvalidIdentifier,
    ConflictingIdentifiers,
    TooManyIdentifiers,
    RateLimited,
    RateLimiterUnavailable,
)
def verify_code(request: HttpRequest, body: OtpVerifyIn) -> LoginOut:
    result = otp_verify(phone=body.phone, code=body.code, ip_address=client_ip(request))
    consumer_session_login(request, result)
    return LoginOut(
        one_id=result.person.one_id,
        created=result.created,
        token=result.token,
        expires_at=result.expires_at,
    )


@router.get("/wechat/authorize", summary="跳转微信网页授权", response={302: None})
def wechat_authorize(request: HttpRequest, next: str = "/m/") -> HttpResponse:
    if not url_has_allowed_host_and_scheme(next, allowed_hosts=None):
        next = "/m/"
    callback = request.build_absolute_uri("/m/auth/wechat/callback")
    target = wechat_oauth_begin(
        request, provider=wechat_oauth_provider(), callback_url=callback, next_url=next
    )
    return HttpResponseRedirect(target)


@router.get(
    "/wechat/js-config", response=JsSdkConfigOut, summary="微信 JS-SDK 配置（wx.config 签名）"
)
@raises(JsSdkUrlInvalid, WechatUnavailable)
def wechat_js_config(request: HttpRequest, query: Query[JsSdkConfigQuery]) -> JsSdkConfigOut:
    """Signs one of this site's pages for `wx.config`; the page sends its own address."""
    url = query.url.split("#", 1)[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc != request.get_host():
        raise JsSdkUrlInvalid(detail={"field": "url"})
    config = jssdk_config(url=url)
    return JsSdkConfigOut(
        app_id=config.app_id,
        timestamp=config.timestamp,
        nonce_str=config.nonce_str,
        signature=config.signature,
    )


@me_router.get("", response=MeOut, summary="当前登录的消费者")
def me(request: HttpRequest) -> MeOut:
    person = request_person(request)
    return MeOut(
        one_id=person.one_id,
        display_name=person.display_name,
        identifiers=[
            IdentifierOut(type=i.type, masked_value=i.masked_value, verified=i.verified)
            for i in person_identifiers_masked(person=person)
        ],
    )


@me_router.post("/logout", response={204: None}, summary="退出登录")
def logout(request: HttpRequest) -> Status[None]:
    consumer_token_revoke(token_id=request.consumer.pk)  # type: ignore[attr-defined]
    request.session.flush()
    return Status(204, None)


PRIVACY_ROLES = (Role.CUSTOMER_SERVICE,)
READ_ROLES = (Role.CUSTOMER_SERVICE, Role.MARKETER, Role.COMMUNITY_MANAGER)


class LookupQuery(Schema):
    type: str
    value: str
    scope: str = ""


_OCCURRED_AT_PROBLEMS = {
    "in_future": f"发生时间不能晚于当前时间（最多允许超前 {clock.CLIENT_CLOCK_SKEW.seconds // 60} 分钟）",
    "out_of_range": "发生时间超出可表示的时间范围",
}


def _check_occurred_at(body: IdentifyIn) -> None:
    moment = body.occurred_at
    if moment is None or moment.utcoffset() is None:
        return  # none is "now"; a time without offset is identify's InvalidIdentifier
    problem = clock.client_time_problem(moment)
    if problem is not None:
        raise OccurredAtInvalid(
            _OCCURRED_AT_PROBLEMS.get(problem),
            detail={
                "field": "occurred_at",
                "problem": problem,
                "max_ahead_seconds": int(clock.CLIENT_CLOCK_SKEW.total_seconds()),
            },
        )


@oneid_router.post(
    "/identify",
    response=IdentifyOut,
    auth=[ApiKeyAuth("identity:write"), OperatorAuth(Role.CUSTOMER_SERVICE)],
    summary="识别用户：返回 OneID，必要时关联或合并",
)
@raises(InvalidIdentifier, ConflictingIdentifiers, TooManyIdentifiers, OccurredAtInvalid)
def identify_endpoint(request: HttpRequest, body: IdentifyIn) -> dict[str, Any]:
    """`occurred_at` says when the traits were true: a later write with an earlier time does
    not overwrite them, so a time in the future is refused as `/track` refuses it."""
    _check_occurred_at(body)
    result = identify(
        identifiers=[IdentifierInput(**item.dict()) for item in body.identifiers],
        traits=body.traits,
        source=body.source,
        occurred_at=body.occurred_at,
        display_name=body.display_name,
        actor=request_actor(request),
    )
    return {
        "one_id": result.person.one_id,
        "created": result.created,
        "merged_from": result.merged_from,
        "conflicts": result.conflicts,
    }


@oneid_router.get(
    "/people/lookup",
    response=PersonOut,
    auth=[ApiKeyAuth("identity:read"), OperatorAuth(*READ_ROLES)],
    summary="按任意标识查询用户（脱敏）",
)
@raises(PersonNotFound, InvalidIdentifier)
def lookup(request: HttpRequest, query: Query[LookupQuery]) -> dict[str, object]:
    person = person_by_identifier(identifier_type=query.type, value=query.value, scope=query.scope)
    if person is None:
        raise PersonNotFound()
    return person_summary(person=person)


@oneid_router.get(
    "/people/{one_id}",
    response=PersonOut,
    auth=[ApiKeyAuth("identity:read"), OperatorAuth(*READ_ROLES)],
    summary="按 OneID 查询用户（已合并的 OneID 返回合并后的用户）",
)
@raises(PersonNotFound)
def person_detail(request: HttpRequest, one_id: str) -> dict[str, object]:
    person = person_get(one_id=one_id)
    return person_summary(
        person=person, requested_one_id=one_id if person.one_id != one_id else None
    )


@oneid_router.get(
    "/people/{one_id}/export",
    auth=[ApiKeyAuth("identity:export"), OperatorAuth(*PRIVACY_ROLES)],
    summary="导出该用户的全部个人数据（PIPL），会记录审计",
)
@raises(PersonNotFound, PersonErased)
def export(request: HttpRequest, one_id: str) -> dict[str, Any]:
    return person_export(actor=request_actor(request), one_id=one_id)


@oneid_router.post(
    "/people/{one_id}/erase",
    response=PersonOut,
    auth=[ApiKeyAuth("identity:erase"), OperatorAuth(*PRIVACY_ROLES)],
    summary="删除该用户的个人信息（PIPL），保留匿名事实，会记录审计",
)
@raises(PersonNotFound, PersonErased)
def erase(request: HttpRequest, one_id: str, body: EraseIn) -> dict[str, object]:
    person = person_erase(actor=request_actor(request), one_id=one_id, reason=body.reason)
    return person_summary(person=person)


@oneid_router.post(
    "/people/{one_id}/split",
    response=PersonOut,
    auth=[OperatorAuth(Role.CUSTOMER_SERVICE)],
    summary="拆分错误合并：所选标识成为新用户，且不会再被同样的证据合并",
)
@raises(PersonNotFound, SplitInvalid)
def split(request: HttpRequest, one_id: str, body: SplitIn) -> dict[str, object]:
    person = person_get(one_id=one_id)
    new_person = person_split(
        actor=request_actor(request),
        person=person,
        identifier_ids=body.identifier_ids,
        reason=body.reason,
    )
    return person_summary(person=new_person)
