"""A presale launched in a live session as a product card (GB-4).

The presale keeps the live session's code (`Presale.live_session_code`); the live room asks
for the cards of its code through `selectors.presale_cards_for_live_session`, composed by
`web` (live and groupbuy are siblings and never import each other). Groupbuy therefore cannot
check that a session of that code exists: it checks the code's form (the live room's own
pattern), and a code that names no session shows the card nowhere.

Invariants
- A presale is in at most one session at a time; launching it in another moves it.
- Only a running presale (not ended, not cancelled) is launched; withdrawing is always allowed.
- Launching where it already is, or withdrawing what is not launched, changes nothing and
  writes no audit row; every change writes one (`groupbuy.presale.live_launch` / `…withdraw`).
"""

from __future__ import annotations

import re

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.groupbuy.presale.errors import PresaleInvalid, PresaleStateInvalid
from freshloop.groupbuy.presale.locks import presale_lock
from freshloop.groupbuy.presale.models import PRESALE_RUNNING, Presale

# The live room's code pattern (`/m/live/<code>`, `/api/v1/live/<code>/events`).
SESSION_CODE = re.compile(r"[A-Za-z0-9_]{1,40}")


@transaction.atomic
def presale_live_launch(*, presale_no: str, session_code: str, actor: Actor) -> Presale:
    """Show the presale as a product card in the live session `session_code`."""
    code = session_code.strip() if isinstance(session_code, str) else ""
    if not SESSION_CODE.fullmatch(code):
        raise PresaleInvalid.for_fields(
            [("session_code", "直播场次编号应为 1–40 位字母、数字或下划线")]
        )
    presale = presale_lock(presale_no)
    if presale.status not in PRESALE_RUNNING:
        raise PresaleStateInvalid(
            "预售已结束或已取消，不能在直播间上架", detail={"status": presale.status}
        )
    if presale.live_session_code == code:
        return presale
    before = presale.live_session_code
    presale.live_session_code = code
    presale.updated_at = clock.now()
    presale.save(update_fields=["live_session_code", "updated_at"])
    audit_record(
        actor=actor,
        action="groupbuy.presale.live_launch",
        target=presale,
        before={"live_session_code": before},
        after={"live_session_code": code},
    )
    return presale


@transaction.atomic
def presale_live_withdraw(*, presale_no: str, actor: Actor) -> Presale:
    """Take the presale's card out of its live session (the presale itself goes on)."""
    presale = presale_lock(presale_no)
    if not presale.live_session_code:
        return presale
    before = presale.live_session_code
    presale.live_session_code = ""
    presale.updated_at = clock.now()
    presale.save(update_fields=["live_session_code", "updated_at"])
    audit_record(
        actor=actor,
        action="groupbuy.presale.live_withdraw",
        target=presale,
        before={"live_session_code": before},
        after={"live_session_code": ""},
    )
    return presale
