"""The points ledger: append-only in the ORM, tamper-evident in the database."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from freshloop.membership.models import GENESIS_HASH, AppendOnlyError, PointsEntry
from freshloop.membership.services import (
    ledger_verify,
    ledger_verify_all,
    points_earn_for_order,
    points_spend,
)
from tests.factories import make_person
from tests.membership.helpers import give_points

pytestmark = pytest.mark.django_db


class TestPointsEntryAppendOnly:
    def test_saving_an_existing_entry_is_refused(self) -> None:
        person = make_person()
        give_points(person, 100)
        entry = PointsEntry.objects.get()
        entry.delta = 1_000_000
        with pytest.raises(AppendOnlyError):
            entry.save()
        assert PointsEntry.objects.get().delta == 100

    def test_deleting_is_refused_for_rows_and_querysets(self) -> None:
        person = make_person()
        give_points(person, 100)
        with pytest.raises(AppendOnlyError):
            PointsEntry.objects.get().delete()
        with pytest.raises(AppendOnlyError):
            PointsEntry.objects.all().delete()
        with pytest.raises(AppendOnlyError):
            PointsEntry.objects.all().update(delta=0)
        assert PointsEntry.objects.count() == 1

    def test_entries_chain_per_person(self) -> None:
        alice, bob = make_person(), make_person()
        give_points(alice, 10)
        give_points(bob, 20)
        give_points(alice, 30)
        first, second = PointsEntry.objects.filter(person=alice).order_by("seq")
        assert (first.seq, second.seq) == (1, 2)
        assert first.prev_hash == GENESIS_HASH
        assert second.prev_hash == first.entry_hash
        assert PointsEntry.objects.get(person=bob).prev_hash == GENESIS_HASH


class TestLedgerVerifyTampering:
    def test_raw_sql_update_of_an_amount_is_caught(self) -> None:
        # given a history of three entries
        person = make_person()
        points_earn_for_order(person_id=person.pk, order_ref="O-1", paid_amount_fen=10_000)
        points_spend(person_id=person.pk, points=30, order_ref="O-2")
        give_points(person, 5)
        assert ledger_verify(person_id=person.pk).ok
        spend = PointsEntry.objects.get(kind="spend")
        # when someone edits the spend behind the ORM's back
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE membership_pointsentry SET delta = %s WHERE id = %s", [-3, spend.pk]
            )
        # then verification points at that entry
        result = ledger_verify(person_id=person.pk)
        assert result.ok is False
        assert result.first_broken_entry_id == spend.pk
        assert "篡改" in result.problem

    def test_rewriting_an_entry_and_its_hash_breaks_the_next_link(self) -> None:
        person = make_person()
        give_points(person, 100)
        give_points(person, 50)
        first, second = PointsEntry.objects.filter(person=person).order_by("seq")
        first.reason = "伪造"
        forged_hash = first.compute_hash()
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE membership_pointsentry SET reason = %s, entry_hash = %s WHERE id = %s",
                ["伪造", forged_hash, first.pk],
            )
        result = ledger_verify(person_id=person.pk)
        assert (result.ok, result.first_broken_entry_id) == (False, second.pk)

    def test_a_deleted_entry_is_caught(self) -> None:
        person = make_person()
        give_points(person, 100)
        give_points(person, 50)
        give_points(person, 25)
        middle = PointsEntry.objects.get(person=person, seq=2)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM membership_pointsentry WHERE id = %s", [middle.pk])
        result = ledger_verify(person_id=person.pk)
        assert result.ok is False
        assert result.first_broken_entry_id == PointsEntry.objects.get(seq=3).pk


class TestPointsLedgerVerifyCommand:
    def test_clean_ledgers_pass(self, capsys: pytest.CaptureFixture[str]) -> None:
        give_points(make_person(), 10)
        give_points(make_person(), 20)
        call_command("points_ledger_verify")
        assert "checked 2 members, 2 entries, 0 broken" in capsys.readouterr().out

    def test_a_tampered_ledger_fails_the_command(self) -> None:
        honest, tampered = make_person(), make_person()
        give_points(honest, 10)
        give_points(tampered, 20)
        entry = PointsEntry.objects.get(person=tampered)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE membership_pointsentry SET balance_after = 9999 WHERE id = %s", [entry.pk]
            )
        with pytest.raises(CommandError, match="1 broken"):
            call_command("points_ledger_verify")
        broken = [result for result in ledger_verify_all() if not result.ok]
        assert [result.person_id for result in broken] == [tampered.pk]
