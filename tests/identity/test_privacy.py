from __future__ import annotations

import json

import pytest
from django.db import connection

from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.identity.errors import PersonErased, PersonNotFound
from freshloop.identity.models import ConsumerToken, Identifier, Person, PersonStatus
from freshloop.identity.privacy import person_erase, person_export, person_get
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.identity.services import consumer_token_issue

SERVICE = Actor(type="user", id="9", label="客服小李")


def _customer() -> Person:
    result = identify(
        identifiers=[
            IdentifierInput(type="phone", value="13800138000", verified=True),
            IdentifierInput(type="wechat_unionid", value="u-77", verified=True),
        ],
        traits={
            "province": "浙江",
            "city": "杭州",
            "name": "王小明",
            "address": "西湖区文三路 1 号",
        },
        source="shop",
        display_name="小明",
    )
    return result.person


@pytest.mark.django_db
class TestPersonExport:
    def test_everything_held_in_clear_and_audited(self) -> None:
        person = _customer()
        document = person_export(actor=SERVICE, one_id=person.one_id)
        identity = document["sections"]["identity"]
        assert {i["value"] for i in identity["identifiers"]} == {"+8613800138000", "u-77"}
        assert identity["person"]["private_traits"] == {
            "name": "王小明",
            "address": "西湖区文三路 1 号",
        }
        assert identity["person"]["traits"] == {"province": "浙江", "city": "杭州"}
        json.dumps(document, ensure_ascii=False)  # serialisable as the download
        assert AuditLog.objects.filter(action="person.export", actor_label="客服小李").exists()

    def test_unknown_one_id(self) -> None:
        with pytest.raises(PersonNotFound):
            person_export(actor=SERVICE, one_id="P_NOPE")


@pytest.mark.django_db
class TestPersonErase:
    def test_personal_data_gone_facts_kept(self) -> None:
        person = _customer()
        consumer_token_issue(person=person, method="otp")
        # when the customer asks to be forgotten
        erased = person_erase(actor=SERVICE, one_id=person.one_id, reason="用户申请注销")
        # then no identifier value, name or private trait is left, in clear or sealed
        assert erased.status == PersonStatus.ERASED
        assert erased.display_name == ""
        assert erased.private_traits == {}
        assert erased.traits == {"province": "浙江"}
        assert set(Identifier.objects.filter(person=person).values_list("value", flat=True)) == {""}
        with connection.cursor() as cursor:
            cursor.execute("SELECT value, value_index FROM identity_identifier")
            rows = cursor.fetchall()
        assert all(value == "" and index.startswith("erased:") for value, index in rows)
        assert ConsumerToken.objects.get().revoked_at is not None
        # and the OneID still exists for the anonymised facts (orders, events)
        assert Person.objects.filter(one_id=person.one_id).exists()
        assert AuditLog.objects.filter(action="person.erase").exists()
        # a later visit with the same phone is a stranger
        again = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138000")], source="shop"
        )
        assert again.created is True
        assert again.person.pk != person.pk

    def test_erasing_twice_is_refused(self) -> None:
        person = _customer()
        person_erase(actor=SERVICE, one_id=person.one_id, reason="注销")
        with pytest.raises(PersonErased):
            person_erase(actor=SERVICE, one_id=person.one_id, reason="注销")
        with pytest.raises(PersonErased):
            person_export(actor=SERVICE, one_id=person.one_id)


@pytest.mark.django_db
class TestPersonGet:
    def test_merged_one_id_resolves_to_the_survivor(self) -> None:
        first = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138000")], source="shop"
        ).person
        second = identify(
            identifiers=[IdentifierInput(type="device_id", value="d")], source="live"
        ).person
        identify(
            identifiers=[
                IdentifierInput(type="phone", value="13800138000"),
                IdentifierInput(type="device_id", value="d"),
            ],
            source="live",
        )
        assert person_get(one_id=second.one_id).pk == first.pk

    def test_private_traits_are_sealed_in_the_database(self) -> None:
        _customer()
        with connection.cursor() as cursor:
            cursor.execute("SELECT private_traits, traits FROM identity_person")
            sealed, plain = cursor.fetchone()
        assert "王小明" not in sealed
        assert sealed.startswith("v1:")
        assert "王小明" not in str(plain)
