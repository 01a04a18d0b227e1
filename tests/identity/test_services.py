from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from freshloop.core import clock
from freshloop.core.errors import RateLimited
from freshloop.core.models import AuditLog, OutboxMessage, OutboxStatus
from freshloop.identity.errors import InvalidPhone, OtpInvalid, OtpLocked, TokenInvalid
from freshloop.identity.models import (
    ConsumerToken,
    Identifier,
    IdentifierType,
    OtpChallenge,
    Person,
)
from freshloop.identity.providers import WechatProfile
from freshloop.identity.services import (
    consumer_token_authenticate,
    consumer_token_revoke,
    otp_request,
    otp_verify,
    person_resolve_identifier,
    phone_normalise,
    wechat_login,
)
from tests.identity.helpers import last_sms_code


class TestPhoneNormalise:
    @pytest.mark.parametrize(
        ("raw", "e164"),
        [
            ("13800138000", "+8613800138000"),
            ("+86 138-0013-8000", "+8613800138000"),
            ("+1 415 555 2671", "+14155552671"),
        ],
    )
    def test_normalises_to_e164(self, raw: str, e164: str) -> None:
        assert phone_normalise(raw) == e164

    @pytest.mark.parametrize("raw", ["", "12345", "abc", "1" * 40, "10000000000"])
    def test_rejects_invalid_numbers(self, raw: str) -> None:
        with pytest.raises(InvalidPhone):
            phone_normalise(raw)


@pytest.mark.django_db
class TestOtpRequest:
    def test_queues_an_sms_and_stores_only_a_hash(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # when a consumer asks for a login code
        with django_capture_on_commit_callbacks(execute=True):
            result = otp_request(phone="13800138000", ip_address="10.0.0.1")
        # then the SMS went out through the outbox (relay kicked on commit) with the code
        message = OutboxMessage.objects.get(channel="sms")
        assert message.status == OutboxStatus.SENT
        assert message.destination == "+8613800138000"
        code = last_sms_code()
        assert len(code) == 6
        assert code.isdigit()
        assert result.sandbox_code == code  # development/test echo, off in production
        # and the database never holds the code or the phone in clear
        challenge = OtpChallenge.objects.get()
        assert code not in challenge.code_hash
        assert "13800138000" not in challenge.phone_index

    def test_one_code_per_minute_per_phone(self) -> None:
        otp_request(phone="13800138000", ip_address="10.0.0.1")
        with pytest.raises(RateLimited) as refused:
            otp_request(phone="+86 13800138000", ip_address="10.0.0.2")
        assert 0 < refused.value.retry_after <= 60
        assert f"{refused.value.retry_after} 秒" in refused.value.text
        assert OutboxMessage.objects.count() == 1

    def test_daily_cap_per_phone(self, settings: object) -> None:
        start = dt.datetime(2026, 5, 1, 0, 0, tzinfo=dt.UTC)
        cap = settings.FRESHLOOP.otp_per_phone_per_day  # type: ignore[attr-defined]
        for minute in range(cap):
            with clock.frozen(start + dt.timedelta(minutes=2 * minute)):
                otp_request(phone="13800138000", ip_address=f"10.0.{minute}.1")
        with (
            clock.frozen(start + dt.timedelta(minutes=2 * cap)),
            pytest.raises(RateLimited, match="今日"),
        ):
            otp_request(phone="13800138000", ip_address="10.9.9.9")

    def test_per_ip_cap_across_phones(self, settings: object) -> None:
        cap = settings.FRESHLOOP.otp_per_ip_per_hour  # type: ignore[attr-defined]
        for index in range(cap):
            otp_request(phone=f"1390000{index:04d}", ip_address="203.0.113.7")
        with pytest.raises(RateLimited):
            otp_request(phone="13912345678", ip_address="203.0.113.7")

    def test_invalid_phone_sends_nothing(self) -> None:
        with pytest.raises(InvalidPhone):
            otp_request(phone="123", ip_address=None)
        assert OutboxMessage.objects.count() == 0
        assert OtpChallenge.objects.count() == 0


@pytest.mark.django_db
class TestOtpVerify:
    def test_first_login_creates_the_person_with_a_verified_phone(self) -> None:
        otp_request(phone="13800138000", ip_address=None)
        login = otp_verify(phone="13800138000", code=last_sms_code(), ip_address=None)
        assert login.created is True
        identifier = Identifier.objects.get(person=login.person)
        assert (identifier.type, identifier.value, identifier.verified) == (
            "phone",
            "+8613800138000",
            True,
        )
        assert consumer_token_authenticate(token=login.token).person == login.person
        assert AuditLog.objects.filter(
            action="person.create", target_id=str(login.person.pk)
        ).exists()

    def test_second_login_finds_the_same_person(self) -> None:
        otp_request(phone="13800138000", ip_address=None)
        first = otp_verify(phone="13800138000", code=last_sms_code(), ip_address=None)
        with clock.frozen(clock.now() + dt.timedelta(minutes=2)):
            otp_request(phone="+8613800138000", ip_address=None)
            second = otp_verify(phone="138 0013 8000", code=last_sms_code(), ip_address=None)
        assert second.created is False
        assert second.person == first.person
        assert Person.objects.count() == 1

    def test_code_is_single_use(self) -> None:
        otp_request(phone="13800138000", ip_address=None)
        code = last_sms_code()
        otp_verify(phone="13800138000", code=code, ip_address=None)
        with pytest.raises(OtpInvalid):
            otp_verify(phone="13800138000", code=code, ip_address=None)

    def test_code_expires(self, settings: object) -> None:
        otp_request(phone="13800138000", ip_address=None)
        ttl = settings.FRESHLOOP.otp_ttl_seconds  # type: ignore[attr-defined]
        with clock.frozen(clock.now() + dt.timedelta(seconds=ttl + 1)), pytest.raises(OtpInvalid):
            otp_verify(phone="13800138000", code=last_sms_code(), ip_address=None)

    def test_a_new_code_replaces_the_old_one(self) -> None:
        otp_request(phone="13800138000", ip_address=None)
        old = last_sms_code()
        with clock.frozen(clock.now() + dt.timedelta(minutes=2)):
            otp_request(phone="13800138000", ip_address=None)
            new = last_sms_code()
            if old != new:
                with pytest.raises(OtpInvalid):
                    otp_verify(phone="13800138000", code=old, ip_address=None)
            assert otp_verify(phone="13800138000", code=new, ip_address=None).person

    def test_brute_force_voids_the_code_and_locks_the_phone(self, settings: object) -> None:
        # given a code and an attacker guessing
        otp_request(phone="13800138000", ip_address=None)
        real = last_sms_code()
        wrong = f"{(int(real) + 1) % 1_000_000:06d}"
        attempts = settings.FRESHLOOP.otp_max_attempts  # type: ignore[attr-defined]
        for guess in range(1, attempts):
            with pytest.raises(OtpInvalid) as refused:
                otp_verify(phone="13800138000", code=wrong, ip_address="198.51.100.1")
            assert refused.value.detail == {"remaining_attempts": attempts - guess}
        # when the last allowed guess is wrong too
        with pytest.raises(OtpLocked) as locked:
            otp_verify(phone="13800138000", code=wrong, ip_address="198.51.100.1")
        # then the phone is locked for 15 minutes, and the message says so
        assert locked.value.retry_after == 900
        assert "15 分钟" in locked.value.text
        # and even the right code no longer works
        with pytest.raises(OtpLocked):
            otp_verify(phone="13800138000", code=real, ip_address="198.51.100.1")
        assert Person.objects.count() == 0

    def test_verify_is_rate_limited_per_ip(self, settings: object) -> None:
        cap = settings.FRESHLOOP.verify_per_ip_per_hour  # type: ignore[attr-defined]
        for _ in range(cap):
            with pytest.raises(OtpInvalid):
                otp_verify(phone="13800138000", code="000000", ip_address="198.51.100.9")
        with pytest.raises(RateLimited):
            otp_verify(phone="13800138000", code="000000", ip_address="198.51.100.9")

    @pytest.mark.parametrize("code", ["12345", "abcdef", "1234567", ""])
    def test_malformed_codes_are_refused(self, code: str) -> None:
        with pytest.raises(OtpInvalid):
            otp_verify(phone="13800138000", code=code, ip_address=None)


@pytest.mark.django_db(transaction=True)
class TestOtpVerifyConcurrency:
    def test_one_code_logs_in_only_once_under_a_race(self) -> None:
        # given one valid code and 6 parallel requests presenting it
        otp_request(phone="13800138000", ip_address=None)
        code = last_sms_code()

        def attempt(_: int) -> str:
            try:
                otp_verify(phone="13800138000", code=code, ip_address=None)
                return "ok"
            except OtpInvalid:
                return "refused"
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = list(pool.map(attempt, range(6)))
        # then exactly one succeeds and exactly one token exists
        assert outcomes.count("ok") == 1
        assert ConsumerToken.objects.count() == 1


@pytest.mark.django_db(transaction=True)
class TestPersonResolveIdentifierConcurrency:
    def test_parallel_first_sightings_create_one_person(self) -> None:
        phone = phone_normalise("13700001111")

        def resolve(_: int) -> int:
            try:
                return person_resolve_identifier(
                    identifier_type=IdentifierType.PHONE, value=phone, verified=True, source="test"
                ).person.pk
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=6) as pool:
            person_ids = set(pool.map(resolve, range(12)))
        assert len(person_ids) == 1
        assert Person.objects.count() == 1
        assert Identifier.objects.count() == 1


@pytest.mark.django_db
class TestWechatLogin:
    def test_openid_is_scoped_by_app_and_unionid_linked(self) -> None:
        profile = WechatProfile(app_id="wx1", openid="o-abc", unionid="u-xyz", nickname="小王")
        login = wechat_login(profile=profile)
        kinds = set(Identifier.objects.filter(person=login.person).values_list("type", "scope"))
        assert kinds == {("wechat_openid", "wx1"), ("wechat_unionid", "")}
        assert login.person.display_name == "小王"
        # the same openid under another app is a different identifier
        other = wechat_login(
            profile=WechatProfile(app_id="wx2", openid="o-abc", unionid=None, nickname="")
        )
        assert other.created is True
        assert other.person != login.person
        again = wechat_login(profile=profile)
        assert again.created is False
        assert again.person == login.person


@pytest.mark.django_db
class TestConsumerTokens:
    def test_revoked_and_expired_tokens_are_refused(self, settings: object) -> None:
        otp_request(phone="13800138000", ip_address=None)
        login = otp_verify(phone="13800138000", code=last_sms_code(), ip_address=None)
        assert ConsumerToken.objects.get().token_hash != login.token  # only the hash is stored
        days = settings.FRESHLOOP.consumer_token_days  # type: ignore[attr-defined]
        with (
            clock.frozen(clock.now() + dt.timedelta(days=days, seconds=1)),
            pytest.raises(TokenInvalid),
        ):
            consumer_token_authenticate(token=login.token)
        consumer_token_revoke(token_id=login.token_id)
        with pytest.raises(TokenInvalid):
            consumer_token_authenticate(token=login.token)
        with pytest.raises(TokenInvalid):
            consumer_token_authenticate(token="flc_forged")


@pytest.fixture(params=["database", "redis"])
def limit_backend(request: pytest.FixtureRequest, settings: Any) -> str:
    """Run a limit test on both counter stores: the database (no REDIS_URL) and the real Redis."""
    import dataclasses

    from freshloop.core import ratelimit

    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, redis_url=url)
    ratelimit.default_backend.cache_clear()
    return str(request.param)


def _limits(settings: Any, **changes: int) -> None:
    import dataclasses

    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, **changes)


def _wrong_code() -> str:
    return f"{(int(last_sms_code()) + 1) % 1_000_000:06d}"


START = dt.datetime(2026, 5, 1, 12, 0, 55, tzinfo=dt.UTC)


@pytest.mark.django_db
@pytest.mark.usefixtures("limit_backend")
class TestOtpAbuseLimits:
    def test_the_resend_wait_is_one_number_in_every_place(self) -> None:
        # given a code sent 55 s into a clock minute (a fixed one-minute window would end in 5 s)
        with clock.frozen(START):
            sent = otp_request(phone="13800138000", ip_address="10.0.0.1")
            # when the same phone asks again at once
            with pytest.raises(RateLimited) as refused:
                otp_request(phone="13800138000", ip_address="10.0.0.1")
        # then the wait it is told is the resend_after it was given: 60 s, in both forms
        assert sent.resend_after == 60
        assert refused.value.retry_after == 60
        assert refused.value.detail == {"retry_after": 60}
        assert "请 60 秒后" in refused.value.text
        # and it counts down, and then a new code may be sent
        with clock.frozen(START + dt.timedelta(seconds=59)), pytest.raises(RateLimited) as later:
            otp_request(phone="13800138000", ip_address="10.0.0.1")
        assert (later.value.retry_after, "请 1 秒后" in later.value.text) == (1, True)
        with clock.frozen(START + dt.timedelta(seconds=60)):
            otp_request(phone="13800138000", ip_address="10.0.0.1")
        assert OutboxMessage.objects.filter(channel="sms").count() == 2

    def test_per_ip_limits_per_hour_and_per_day(self, settings: Any) -> None:
        _limits(settings, otp_per_ip_per_hour=3, otp_per_ip_per_day=5)
        phones = (f"1390000{index:04d}" for index in range(20))
        start = dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC)
        with clock.frozen(start):
            for _ in range(3):
                otp_request(phone=next(phones), ip_address="203.0.113.7")
            with pytest.raises(RateLimited) as hourly:
                otp_request(phone=next(phones), ip_address="203.0.113.7")
            # another address is not affected
            otp_request(phone=next(phones), ip_address="203.0.113.8")
        assert (hourly.value.retry_after, "60 分钟" in hourly.value.text) == (3600, True)
        with clock.frozen(start + dt.timedelta(hours=1)):
            for _ in range(2):
                otp_request(phone=next(phones), ip_address="203.0.113.7")
            with pytest.raises(RateLimited) as daily:
                otp_request(phone=next(phones), ip_address="203.0.113.7")
        # the day (UTC) ends 13 hours later; the message says the rounded figure it carries
        assert daily.value.retry_after == 13 * 3600
        assert "13 小时" in daily.value.text

    def test_the_daily_total_stops_sms_pumping_and_alerts_once(self, settings: Any) -> None:
        _limits(settings, otp_per_day=2)
        otp_request(phone="13900000001", ip_address="198.51.100.1")
        otp_request(phone="13900000002", ip_address="198.51.100.2")
        for phone in ("13900000003", "13900000004"):
            with pytest.raises(RateLimited, match="今日验证码发送量已达上限"):
                otp_request(phone=phone, ip_address="198.51.100.3")
        alerts = OutboxMessage.objects.filter(channel="alert")
        assert [alert.payload["kind"] for alert in alerts] == ["otp.daily_cap_reached"]
        assert OutboxMessage.objects.filter(channel="sms").count() == 2

    def test_wrong_codes_lock_the_phone_for_requests_too_until_the_lock_ends(
        self, settings: Any
    ) -> None:
        # given a phone whose code was guessed wrong five times
        with clock.frozen(START):
            otp_request(phone="13800138000", ip_address="10.0.0.1")
            wrong = _wrong_code()
            for _ in range(4):
                with pytest.raises(OtpInvalid):
                    otp_verify(phone="13800138000", code=wrong, ip_address="10.0.0.2")
            with pytest.raises(OtpLocked):
                otp_verify(phone="13800138000", code=wrong, ip_address="10.0.0.2")
        # then no new code can restart the guessing for 15 minutes, from anywhere
        with clock.frozen(START + dt.timedelta(minutes=14)), pytest.raises(OtpLocked) as locked:
            otp_request(phone="+8613800138000", ip_address="10.0.0.9")
        assert (locked.value.retry_after, "60 秒" in locked.value.text) == (60, True)
        assert OutboxMessage.objects.filter(channel="sms").count() == 1
        # and after the lock a new code works
        with clock.frozen(START + dt.timedelta(minutes=15)):
            otp_request(phone="13800138000", ip_address="10.0.0.1")
            login = otp_verify(phone="13800138000", code=last_sms_code(), ip_address="10.0.0.1")
        assert login.created is True

    def test_another_phone_is_not_locked(self) -> None:
        otp_request(phone="13800138000", ip_address="10.0.0.1")
        wrong = _wrong_code()
        for _ in range(5):
            with pytest.raises((OtpInvalid, OtpLocked)):
                otp_verify(phone="13800138000", code=wrong, ip_address="10.0.0.2")
        otp_request(phone="13800138001", ip_address="10.0.0.1")
        assert otp_verify(phone="13800138001", code=last_sms_code(), ip_address="10.0.0.1")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("limit_backend")
class TestOtpRequestConcurrency:
    def test_parallel_requests_for_one_phone_send_one_code(self) -> None:
        from tests.concurrency import run_at_once

        outcomes = run_at_once(
            [lambda: otp_request(phone="13800138000", ip_address="10.0.0.1") for _ in range(6)]
        )
        labels = sorted(outcome.label for outcome in outcomes)
        assert labels.count("RateLimited") == 5
        assert OutboxMessage.objects.filter(channel="sms").count() == 1
