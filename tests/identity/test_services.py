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

    def test_brute_force_locks_the_code(self, settings: object) -> None:
        # given a code and an attacker guessing
        otp_request(phone="13800138000", ip_address=None)
        real = last_sms_code()
        wrong = f"{(int(real) + 1) % 1_000_000:06d}"
        attempts = settings.FRESHLOOP.otp_max_attempts  # type: ignore[attr-defined]
        for _ in range(attempts):
            with pytest.raises(OtpInvalid):
                otp_verify(phone="13800138000", code=wrong, ip_address="198.51.100.1")
        # then even the right code no longer works: it must be requested again
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
