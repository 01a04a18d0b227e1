"""Shared set-up of the scrm WeCom tests: the sandbox corp's contacts tied to OneIDs, callbacks
as the endpoint publishes them, after-commit handlers and durable effects run, WeCom calls
counted."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.events import publish
from freshloop.core.outbox import outbox_relay
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.wecom import SandboxWecomClient
from freshloop.scrm.contacts import contact_sync
from freshloop.scrm.models import WecomContact

CORP = "ww_sandbox_corp"


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[..., Any]:
    """`with committed():` — after-commit handlers run at the end, then the outbox relay
    delivers the durable (background) effects, as the worker would."""

    @contextlib.contextmanager
    def block() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield
        outbox_relay()

    return block


@pytest.fixture
def wecom_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every mark_tag / transfer_customer the sandbox receives, in order."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for name in ("mark_tag", "transfer_customer", "add_corp_tag"):
        original = getattr(SandboxWecomClient, name)

        def spy(self: Any, *, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append((_name, kwargs))
            return _original(self, **kwargs)

        monkeypatch.setattr(SandboxWecomClient, name, spy)
    return calls


def contact(external_userid: str, staff: str = "fl_staff_lin") -> WecomContact:
    return contact_sync(corp_id=CORP, external_userid=external_userid, staff_userid=staff)


def callback(
    change_type: str, external_userid: str, staff: str = "fl_staff_lin", **fields: Any
) -> None:
    publish(
        WecomContactChanged(
            corp_id=CORP,
            change_type=change_type,
            staff_userid=staff,
            external_userid=external_userid,
            wecom_time=int(clock.now().timestamp()),
            event_key=f"{change_type}:{external_userid}:{staff}:{fields.get('key', '')}",
            source=fields.get("source", ""),
            fail_reason=fields.get("fail_reason", ""),
        )
    )
