"""Consumer login API: phone + one-time code, WeChat authorisation, who am I, log out."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from ninja import Router, Status

from freshloop.core.middleware import client_ip
from freshloop.identity.auth import ConsumerAuth, consumer_session_login, request_person
from freshloop.identity.providers import wechat_oauth_provider
from freshloop.identity.schemas import LoginOut, MeOut, OtpRequestIn, OtpRequestOut, OtpVerifyIn
from freshloop.identity.selectors import person_identifiers_masked
from freshloop.identity.services import consumer_token_revoke, otp_request, otp_verify
from freshloop.identity.wechat_flow import wechat_oauth_begin

router = Router(tags=["认证 auth"])
me_router = Router(tags=["当前用户 me"], auth=ConsumerAuth())


@router.post("/otp", response={202: OtpRequestOut}, summary="发送登录验证码")
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


@me_router.get("", response=MeOut, summary="当前登录的消费者")
def me(request: HttpRequest) -> MeOut:
    person = request_person(request)
    return MeOut(
        one_id=person.one_id,
        display_name=person.display_name,
        identifiers=[ident.__dict__ for ident in person_identifiers_masked(person=person)],  # type: ignore[misc]
    )


@me_router.post("/logout", response={204: None}, summary="退出登录")
def logout(request: HttpRequest) -> Status[None]:
    consumer_token_revoke(token_id=request.consumer.pk)  # type: ignore[attr-defined]
    request.session.flush()
    return Status(204, None)
