"""Carrier credentials: set and rotated through one service (or /admin/ on top of it), sealed at
rest, never shown back, audited by field name only."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from freshloop.core.audit import AuditLog
from freshloop.fulfillment.errors import FulfillmentInvalid
from freshloop.fulfillment.models import CarrierCredential
from freshloop.fulfillment.services import carrier_credential_set
from tests.factories import make_staff_user
from tests.fulfillment.factories import OPERATOR, make_carrier

SECRET = "push-secret-0123456789"
ADMIN_ADD = "/admin/fulfillment/carriercredential/add/"


def _raw_secret(carrier_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT webhook_secret FROM fulfillment_carriercredential WHERE carrier_id = %s",
            [carrier_id],
        )
        return str(cursor.fetchone()[0])


@pytest.mark.django_db
class TestCarrierCredentialSet:
    def test_secrets_are_sealed_at_rest_and_audited_without_their_value(self) -> None:
        # given a carrier
        carrier = make_carrier()
        # when its push secret and Kuaidi100 company are set
        carrier_credential_set(
            carrier=carrier,
            changes={"webhook_secret": SECRET, "kuaidi100_company": "shunfeng"},
            actor=OPERATOR,
        )
        # then the model reads the secret back, the table holds only ciphertext
        credential = CarrierCredential.objects.get(carrier=carrier)
        assert credential.webhook_secret == SECRET
        assert SECRET not in _raw_secret(carrier.pk)
        # and the audit row names the fields, not the secret
        entry = AuditLog.objects.get(action="fulfillment.carrier_credential_set")
        assert entry.after["changed"] == ["kuaidi100_company", "webhook_secret"]
        assert SECRET not in str(entry.after)
        assert SECRET not in str(entry.before)

    def test_rotating_one_secret_keeps_the_others_and_a_repeat_audits_nothing(self) -> None:
        carrier = make_carrier()
        carrier_credential_set(
            carrier=carrier,
            changes={"webhook_secret": SECRET, "kuaidi100_salt": "salt-1"},
            actor=OPERATOR,
        )
        carrier_credential_set(
            carrier=carrier, changes={"kuaidi100_salt": "salt-2"}, actor=OPERATOR
        )
        carrier_credential_set(
            carrier=carrier, changes={"kuaidi100_salt": "salt-2"}, actor=OPERATOR
        )
        credential = CarrierCredential.objects.get(carrier=carrier)
        assert (credential.webhook_secret, credential.kuaidi100_salt) == (SECRET, "salt-2")
        assert AuditLog.objects.filter(action="fulfillment.carrier_credential_set").count() == 2

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"webhook_secret": "short"}, "webhook_secret"),
            ({"kuaidi100_key": "has space"}, "kuaidi100_key"),
            ({"kuaidi100_salt": "x" * 65}, "kuaidi100_salt"),
            ({"password": "x"}, "password"),
        ],
    )
    def test_a_value_that_cannot_be_a_credential_is_refused_and_nothing_written(
        self, changes: dict[str, str], field: str
    ) -> None:
        carrier = make_carrier()
        with pytest.raises(FulfillmentInvalid) as refused:
            carrier_credential_set(carrier=carrier, changes=changes, actor=OPERATOR)
        assert refused.value.detail[0]["field"] == field
        assert not CarrierCredential.objects.exists()


@pytest.mark.django_db
class TestCarrierCredentialAdmin:
    def test_secrets_are_write_only_and_blank_keeps_them(self, client: Client) -> None:
        # given a superuser in /admin/ and a carrier
        client.force_login(make_staff_user("boss", superuser=True))
        carrier = make_carrier()
        # when a credential is added with a push secret
        added = client.post(
            ADMIN_ADD,
            {"carrier": carrier.pk, "webhook_secret": SECRET, "kuaidi100_company": "shunfeng"},
        )
        assert added.status_code == 302, added.content.decode()[:2000]
        credential = CarrierCredential.objects.get(carrier=carrier)
        change_url = f"/admin/fulfillment/carriercredential/{credential.pk}/change/"
        # then its page never shows the secret back
        page = client.get(change_url).content.decode()
        assert SECRET not in page
        # and saving with the secret left blank keeps it, while a ticked secret is cleared
        client.post(change_url, {"kuaidi100_company": "jd", "webhook_secret": ""})
        credential.refresh_from_db()
        assert (credential.webhook_secret, credential.kuaidi100_company) == (SECRET, "jd")
        client.post(change_url, {"kuaidi100_company": "jd", "clear_secrets": ["webhook_secret"]})
        credential.refresh_from_db()
        assert credential.webhook_secret == ""

    def test_a_bad_secret_is_a_form_error_not_a_500(self, client: Client) -> None:
        client.force_login(make_staff_user("boss", superuser=True))
        carrier = make_carrier()
        response = client.post(ADMIN_ADD, {"carrier": carrier.pk, "webhook_secret": "short"})
        assert response.status_code == 200
        assert "推送签名密钥长度应在 16–128 个字符之间" in response.content.decode()
        assert not CarrierCredential.objects.exists()
