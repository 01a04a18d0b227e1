"""Scenarios the fault-drill tests run in child processes (`python -m tests.crash_scenarios`).

Each prints one JSON line with what the parent test needs. `--die-after-commit` SIGKILLs the
process in the first after-commit callback of the scenario's transaction, i.e. after the
commit and before any effect of it ran: the instant a crash loses whatever is not durable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from typing import Any

import django


def _die_after_commit() -> None:
    from django.db import transaction

    # Registered before the service runs, so it is the first callback after the commit.
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))


def _order_with_sandbox_callback() -> tuple[str, dict[str, str], bytes]:
    """An unpaid order with a sandbox payment, and the provider's success callback for it."""
    from freshloop.payments.providers import payment_provider
    from freshloop.payments.providers.sandbox import SandboxProvider
    from freshloop.payments.services import payment_create
    from tests.payments.helpers import make_order

    order = make_order()
    payment = payment_create(
        order_no=order.order_no, person_id=order.person_id, provider="sandbox", client_kind="h5"
    )
    sandbox = payment_provider("sandbox")
    assert isinstance(sandbox, SandboxProvider)
    headers, body = sandbox.build_payment_notification(
        payment_no=payment.payment_no, amount_fen=payment.amount_fen, succeed=True
    )
    return order.order_no, headers, body


def pay_order(die_after_commit: bool) -> dict[str, Any]:
    """A buyer's payment is confirmed by the provider's callback (an order fact for the hub)."""
    from django.db import transaction

    from freshloop.payments.services import payment_notification_handle

    order_no, headers, body = _order_with_sandbox_callback()
    print(json.dumps({"order_no": order_no}), flush=True)
    with transaction.atomic():
        if die_after_commit:
            _die_after_commit()
        payment_notification_handle(provider="sandbox", headers=headers, body=body)
    return {"order_no": order_no}


def hub_state(order_no: str) -> dict[str, Any]:
    """The order's status and the order facts the data hub's buffer holds for it."""
    from freshloop.datahub.models import BufferedEvent
    from freshloop.orders.models import Order

    order = Order.objects.get(order_no=order_no)
    recorded = sorted(
        BufferedEvent.objects.filter(event_id__endswith=f":{order_no}").values_list(
            "event_id", flat=True
        )
    )
    return {"order_status": order.status, "recorded": recorded}


def _paid_order_with_refund_request() -> tuple[str, str]:
    from freshloop.core.audit import Actor
    from freshloop.orders.services import order_refund_request
    from freshloop.payments.services import payment_notification_handle

    order_no, headers, body = _order_with_sandbox_callback()
    payment_notification_handle(provider="sandbox", headers=headers, body=body)
    request = order_refund_request(
        order_no=order_no, reason="坏了一盒", actor=Actor.system("drill"), amount_fen=1000
    )
    return order_no, request.refund_no


def approve_refund(die_after_commit: bool) -> dict[str, Any]:
    """An operator approves a refund of a paid order (the refund then starts by effect)."""
    from django.db import transaction

    from freshloop.core.audit import Actor
    from freshloop.orders.services import refund_request_approve

    order_no, refund_no = _paid_order_with_refund_request()
    print(json.dumps({"order_no": order_no, "refund_no": refund_no}), flush=True)
    with transaction.atomic():
        if die_after_commit:
            _die_after_commit()
        refund_request_approve(refund_no=refund_no, actor=Actor.system("drill"))
    return {"order_no": order_no, "refund_no": refund_no}


def refund_state(refund_no: str) -> dict[str, Any]:
    from freshloop.core.models import OutboxMessage
    from freshloop.orders.models import RefundRequest
    from freshloop.payments.models import Refund

    request = RefundRequest.objects.get(refund_no=refund_no)
    refund = Refund.objects.filter(refund_no=refund_no).first()
    effects = [
        row
        for row in OutboxMessage.objects.filter(channel="effect").order_by("pk")
        if (
            "payments" in row.payload["effect"]  # the refund's own steps, not the hub's records
            and refund_no in json.dumps(row.payload)
        )
        or (refund is not None and row.payload.get("data", {}).get("refund_id") == refund.pk)
    ]
    return {
        "request_status": request.status,
        "refund_status": refund.status if refund else None,
        "effects": [[row.payload["effect"], row.status] for row in effects],
    }


def merge_people(die_after_commit: bool) -> dict[str, Any]:
    """A customer known by a device (the survivor, older) and the same customer known by a
    phone with an order (younger); one identify call proves they are one: the younger is
    merged into the older and its order must follow."""
    import uuid

    from freshloop.identity.resolver import IdentifierInput, identify
    from tests.factories import make_order, make_sku

    # Identifiers of their own: the drill database is shared by the module's scenarios, and
    # rows other scenarios wrote are sealed with their own PII key (one data dir each).
    unique = uuid.uuid4().int
    device = IdentifierInput(type="device_id", value=f"drill-{unique:x}")
    phone = IdentifierInput(type="phone", value=f"139{unique % 10**8:08d}", verified=True)
    identify(identifiers=[device], source="drill")
    younger = identify(identifiers=[phone], source="drill").person
    from django.db import transaction

    order = make_order(younger, (make_sku(stock=5), 1))
    started = {"order_no": order.order_no, "merged_person_id": younger.pk}
    print(json.dumps(started), flush=True)
    with transaction.atomic():
        if die_after_commit:
            _die_after_commit()
        identify(identifiers=[phone, device], source="drill")
    return started


def order_owner(order_no: str) -> dict[str, Any]:
    from freshloop.identity.models import PersonStatus
    from freshloop.orders.models import Order

    order = Order.objects.select_related("person").get(order_no=order_no)
    return {
        "person_id": order.person_id,
        "owner_is_merged": order.person.status == PersonStatus.MERGED,
    }


def relay_after_restart() -> dict[str, Any]:
    """What the worker does on its next tick after a restart, once leases of the dead
    process have run out (`CLAIM_LEASE`)."""
    from freshloop.core import clock
    from freshloop.core.outbox import CLAIM_LEASE, outbox_relay

    total = 0
    with clock.frozen(clock.now() + CLAIM_LEASE + dt.timedelta(seconds=1)):
        # A delivered effect may queue the next one (approval -> refund -> submission).
        for _ in range(5):
            result = outbox_relay(batch_size=500)
            total += result.sent
            if result.sent == 0:
                break
    return {"sent": total}


def main(argv: list[str]) -> None:
    django.setup()
    name, args = argv[0], argv[1:]
    if name == "approve_refund":
        result = approve_refund(die_after_commit="--die-after-commit" in args)
    elif name == "pay_order":
        result = pay_order(die_after_commit="--die-after-commit" in args)
    elif name == "hub_state":
        result = hub_state(args[0])
    elif name == "refund_state":
        result = refund_state(args[0])
    elif name == "merge_people":
        result = merge_people(die_after_commit="--die-after-commit" in args)
    elif name == "order_owner":
        result = order_owner(args[0])
    elif name == "relay_after_restart":
        result = relay_after_restart()
    else:
        raise SystemExit(f"unknown scenario {name}")
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
