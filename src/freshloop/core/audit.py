"""Audit trail: every write that touches money, stock, identity or permissions calls `audit_record`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from freshloop.core import clock
from freshloop.core.logging import client_ip_var, request_id_var
from freshloop.core.models import AuditLog

P = ParamSpec("P")


@dataclass(frozen=True)
class Actor:
    """Who did it: an operator (Django user), a consumer (OneID) or the system (a job name)."""

    type: str
    id: str
    label: str

    @classmethod
    def for_user(cls, user: AbstractBaseUser | AnonymousUser) -> Actor:
        if not user.is_authenticated:
            return cls(type="anonymous", id="", label="anonymous")
        return cls(type="user", id=str(user.pk), label=user.get_username())

    @classmethod
    def consumer(cls, one_id: str) -> Actor:
        return cls(type="consumer", id=one_id, label=one_id)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(type="system", id=job, label=job)


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return dict(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def audit_entry(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """An unsaved audit row; callers writing many at once pass them to `audit_record_many`."""
    if target is not None:
        target_type = target_type or target._meta.label
        target_id = target_id or str(target.pk)
    if not target_type:
        raise ValueError("audit_record needs a target or a target_type")
    return AuditLog(
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label[:150],
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=_jsonable(before),
        after=_jsonable(after),
        request_id=request_id_var.get() if request_id_var.get() != "-" else "",
        ip_address=client_ip_var.get(),
        created_at=clock.now(),
    )


def _saving(build: Callable[P, AuditLog]) -> Callable[P, AuditLog]:
    # `audit_record` takes exactly `audit_entry`'s arguments (mypy checks callers against them).
    def audit_record(*args: P.args, **kwargs: P.kwargs) -> AuditLog:
        """Write one audit row, built by `audit_entry` from the same arguments, inside the
        caller's transaction (it rolls back with the change)."""
        entry = build(*args, **kwargs)
        entry.save(force_insert=True)
        return entry

    return audit_record


audit_record = _saving(audit_entry)


def audit_record_many(entries: list[AuditLog]) -> None:
    """Write audit rows built by `audit_entry` in one statement per 500, in the caller's
    transaction (a batch job creating thousands of records audits each without a round trip
    per row)."""
    AuditLog.objects.bulk_create(entries, batch_size=500)
