"""A presale launched in a live session as a product card: the services (audited, idempotent,
refused when over), the selector the live room's composition asks, and the operator API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import AuditLog
from freshloop.core.permissions import Role
from freshloop.groupbuy.presale.errors import PresaleInvalid, PresaleStateInvalid
from freshloop.groupbuy.presale.models import Presale
from freshloop.groupbuy.presale.selectors import presale_cards_for_live_session
from freshloop.groupbuy.presale.services import (
    presale_cancel,
    presale_live_launch,
    presale_live_withdraw,
    presales_advance,
)
from tests.factories import make_staff_user
from tests.groupbuy.presale.helpers import (
    AFTER_BALANCE,
    IN_DEPOSIT,
    OPERATOR,
    T0,
    make_presale,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/groupbuy"


def audits(presale: Presale, action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action, target_id=str(presale.pk)))


class TestPresaleLiveLaunch:
    def test_launching_stores_the_code_and_audits_once(self) -> None:
        presale = make_presale()
        with clock.frozen(T0):
            presale_live_launch(presale_no=presale.presale_no, session_code="L_1", actor=OPERATOR)
            again = presale_live_launch(
                presale_no=presale.presale_no, session_code="L_1", actor=OPERATOR
            )
        assert again.live_session_code == "L_1"
        [entry] = audits(presale, "groupbuy.presale.live_launch")
        assert entry.after == {"live_session_code": "L_1"}

    def test_launching_in_another_session_moves_the_card(self) -> None:
        presale = make_presale()
        with clock.frozen(T0):
            presale_live_launch(presale_no=presale.presale_no, session_code="L_1", actor=OPERATOR)
            presale_live_launch(presale_no=presale.presale_no, session_code="L_2", actor=OPERATOR)
        assert presale_cards_for_live_session(session_code="L_1") == []
        [card] = presale_cards_for_live_session(session_code="L_2")
        assert card.presale_no == presale.presale_no
        assert len(audits(presale, "groupbuy.presale.live_launch")) == 2

    @pytest.mark.parametrize("code", ["", "  ", "有中文", "a/b", "x" * 41])
    def test_a_malformed_code_is_refused_and_nothing_changes(self, code: str) -> None:
        presale = make_presale()
        with pytest.raises(PresaleInvalid) as refused:
            presale_live_launch(presale_no=presale.presale_no, session_code=code, actor=OPERATOR)
        assert refused.value.detail[0]["field"] == "session_code"
        assert Presale.objects.get(pk=presale.pk).live_session_code == ""

    def test_a_cancelled_presale_is_not_launched(self) -> None:
        presale = make_presale()
        with clock.frozen(T0):
            presale_cancel(presale_no=presale.presale_no, reason="货源不足", actor=OPERATOR)
        with pytest.raises(PresaleStateInvalid):
            presale_live_launch(presale_no=presale.presale_no, session_code="L_1", actor=OPERATOR)
        assert audits(presale, "groupbuy.presale.live_launch") == []


class TestPresaleLiveWithdraw:
    def test_withdrawing_clears_the_code_and_audits_only_a_change(self) -> None:
        presale = make_presale()
        with clock.frozen(T0):
            presale_live_launch(presale_no=presale.presale_no, session_code="L_1", actor=OPERATOR)
            presale_live_withdraw(presale_no=presale.presale_no, actor=OPERATOR)
            presale_live_withdraw(presale_no=presale.presale_no, actor=OPERATOR)
        assert Presale.objects.get(pk=presale.pk).live_session_code == ""
        assert presale_cards_for_live_session(session_code="L_1") == []
        [entry] = audits(presale, "groupbuy.presale.live_withdraw")
        assert entry.before == {"live_session_code": "L_1"}


class TestPresaleCardsForLiveSession:
    def test_only_running_presales_of_that_session_first_opening_first(self) -> None:
        later = make_presale(name="晚开的预售")
        sooner = make_presale(name="早开的预售", deposit_starts_at=T0)
        other = make_presale(name="别的直播间")
        with clock.frozen(T0):
            for presale, code in ((later, "L_1"), (sooner, "L_1"), (other, "L_2")):
                presale_live_launch(
                    presale_no=presale.presale_no, session_code=code, actor=OPERATOR
                )
        cards = presale_cards_for_live_session(session_code="L_1", now=IN_DEPOSIT)
        assert [card.name for card in cards] == ["早开的预售", "晚开的预售"]
        assert all(card.deposit_open_now for card in cards)

    def test_an_ended_presale_drops_out(self) -> None:
        presale = make_presale()
        with clock.frozen(T0):
            presale_live_launch(presale_no=presale.presale_no, session_code="L_1", actor=OPERATOR)
        with clock.frozen(AFTER_BALANCE):
            presales_advance(now=AFTER_BALANCE)
        assert presale_cards_for_live_session(session_code="L_1") == []

    def test_no_code_no_cards(self) -> None:
        make_presale()
        assert presale_cards_for_live_session(session_code="") == []


def _post(client: Client, url: str, body: dict[str, object]) -> Any:
    return client.post(f"{URL}{url}", data=json.dumps(body), content_type="application/json")


class TestLiveCardEndpoints:
    @pytest.mark.parametrize("role", [Role.COMMUNITY_MANAGER, Role.LIVE_HOST])
    def test_operators_and_hosts_launch_and_withdraw(self, role: Role) -> None:
        presale = make_presale()
        client = Client()
        client.force_login(make_staff_user("staff", role))
        with clock.frozen(T0):
            launched = _post(
                client, f"/presales/{presale.presale_no}/live", {"session_code": "L_9"}
            )
            withdrawn = client.delete(f"{URL}/presales/{presale.presale_no}/live")
        assert launched.status_code == 200
        assert launched.json()["live_session_code"] == "L_9"
        assert withdrawn.status_code == 200
        assert withdrawn.json()["live_session_code"] == ""

    def test_a_bad_code_is_a_422_and_unknown_presale_a_404(self) -> None:
        presale = make_presale()
        client = Client()
        client.force_login(make_staff_user("ops", Role.COMMUNITY_MANAGER))
        bad = _post(client, f"/presales/{presale.presale_no}/live", {"session_code": "a b"})
        unknown = _post(client, "/presales/PS_nope/live", {"session_code": "L_1"})
        assert bad.status_code == 422
        assert unknown.json()["code"] == "presale_not_found"

    def test_staff_without_the_role_and_consumers_are_refused(self) -> None:
        presale = make_presale()
        clerk = Client()
        clerk.force_login(make_staff_user("clerk"))
        buyer = Client()
        buyer.force_login(make_staff_user("buyer-ish", Role.GROUP_LEADER))
        url = f"/presales/{presale.presale_no}/live"
        assert _post(clerk, url, {"session_code": "L_1"}).status_code == 403
        assert _post(buyer, url, {"session_code": "L_1"}).status_code == 403
        assert Client().delete(f"{URL}{url}").status_code in (401, 403)
        assert Presale.objects.get(pk=presale.pk).live_session_code == ""
