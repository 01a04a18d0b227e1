from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from freshloop.catalog.models import Sku
from freshloop.core.permissions import Role
from freshloop.identity.models import (
    Identifier,
    IdentityConflict,
    MatchCandidate,
    Person,
    PersonStatus,
)
from freshloop.inventory.models import Warehouse


def _seed(**options: object) -> str:
    out = StringIO()
    call_command("demo_seed", stdout=out, **options)
    return out.getvalue()


def _counts() -> tuple[int, ...]:
    return (
        Sku.objects.count(),
        Warehouse.objects.count(),
        User.objects.count(),
        Person.objects.count(),
        Identifier.objects.count(),
        IdentityConflict.objects.count(),
        MatchCandidate.objects.count(),
    )


@pytest.mark.django_db
class TestDemoSeed:
    def test_full_brand(self) -> None:
        # when the demo brand is seeded with its defaults
        output = _seed()
        # then it has the catalog, the warehouses, a login for every role and 500 consumers
        assert Sku.objects.count() >= 40
        storage = {
            w.code: (w.supports_ambient, w.supports_chilled, w.supports_frozen)
            for w in Warehouse.objects.all()
        }
        assert storage == {
            "sh-qingpu": (True, True, True),
            "gz-baiyun": (True, True, True),
            "bj-daxing": (True, True, False),
        }
        for role in Role:
            user = User.objects.get(username=role.value)
            assert user.groups.filter(name=role.value).exists()
            assert user.check_password("freshloop-demo")
        consumers = Person.objects.filter(source="demo_seed", status=PersonStatus.ACTIVE)
        assert consumers.count() == 500
        provinces = {person.traits["province"] for person in consumers}
        assert len(provinces) >= 15
        # and the OneID back office has something to show
        assert IdentityConflict.objects.exists()
        assert Person.objects.filter(status=PersonStatus.MERGED).exists()
        assert MatchCandidate.objects.exists()
        assert "freshloop-demo" in output

    def test_running_twice_duplicates_nothing_and_keeps_passwords(self) -> None:
        _seed(consumers=50)
        before = _counts()
        admin = User.objects.get(username="admin")
        admin.set_password("changed-by-the-operator")
        admin.save()
        output = _seed(consumers=50)
        assert _counts() == before
        admin.refresh_from_db()
        assert admin.check_password("changed-by-the-operator")
        assert "(unchanged)" in output

    def test_phones_are_not_stored_in_clear(self) -> None:
        _seed(consumers=20)
        phones = [i.value for i in Identifier.objects.filter(type="phone")]
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM identity_identifier")
            raw = " ".join(row[0] for row in cursor.fetchall())
        assert phones
        assert not any(phone.removeprefix("+86") in raw for phone in phones)
