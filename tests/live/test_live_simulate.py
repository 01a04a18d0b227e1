"""`manage.py live_simulate` against the project served by uvicorn in a thread of the test: every
viewer logs in, joins, comments, likes and buys through the public HTTP API, and what they did
has to be in the database afterwards.

Not a browser test. The simulator paces each viewer like a person (0–5 s before joining, 3–12 s
between actions); the test divides those pauses by 100 so a few viewers do a few minutes' worth
of watching in seconds. Nothing else is replaced: the HTTP calls, the sandbox cashier and the
order and payment services are the real ones.
"""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import threading
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import uvicorn
from django.core.management import CommandError, call_command

from freshloop.live.host.selectors import session_stats
from freshloop.live.management.commands import live_simulate
from freshloop.live.models import LiveAction, LiveActivity, LiveComment, LiveViewer
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.models import Payment, PaymentStatus
from tests.factories import make_sku
from tests.live.helpers import make_session

PAUSE_DIVISOR = 100
SUMMARY = re.compile(
    r"simulated (?P<viewers>\d+) viewers: (?P<comments>\d+) comments, (?P<likes>\d+) likes, "
    r"(?P<orders>\d+) orders paid, (?P<errors>\d+) errors"
)


class _HurriedAsyncio:
    """`asyncio` as the simulator module sees it, with every pause divided by PAUSE_DIVISOR.

    Only the command's own module reference is swapped, so the server thread's event loop (and
    uvicorn's own sleeps) keep the real `asyncio.sleep`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds / PAUSE_DIVISOR)


@pytest.fixture
def asgi_url(transactional_db: Any) -> Iterator[str]:
    """The project's ASGI entry point under uvicorn on a free loopback port, sharing the test
    database (hence transactional_db: the server's threads must see committed rows)."""
    from config.asgi import application

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    # A login saves the Django session after AsgiCloseConnectionsMiddleware has closed the
    # request's connections, so the finished request thread leaves one open until it is
    # garbage-collected; collect now, or PostgreSQL refuses to drop the test database at the
    # end of the run ("being accessed by other users").
    gc.collect()


def _simulate(**options: Any) -> dict[str, int]:
    out, err = StringIO(), StringIO()
    call_command("live_simulate", stdout=out, stderr=err, **options)
    found = SUMMARY.search(out.getvalue())
    assert found, (out.getvalue(), err.getvalue())
    return {key: int(value) for key, value in found.groupdict().items()}


class TestLiveSimulate:
    def test_viewers_comment_like_and_pay_through_the_api(
        self, asgi_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a session that is live with two products in stock, served over real HTTP
        session = make_session(skus=[make_sku(stock=50), make_sku(stock=50, name="散养土鸡蛋")])
        monkeypatch.setattr(live_simulate, "asyncio", _HurriedAsyncio())

        # when four viewers, all of them meaning to buy, watch for a few (hurried) minutes
        summary = _simulate(
            session=session.code,
            viewers=4,
            minutes=0.1,
            buy_share=1.0,
            base_url=asgi_url,
        )

        # then every viewer joined under their own phone's OneID, and nothing failed
        assert summary["viewers"] == 4
        assert summary["errors"] == 0
        viewers = LiveViewer.objects.filter(session=session)
        assert viewers.count() == 4
        assert sorted(viewers.values_list("nickname", flat=True)) == [
            "鲜友000",
            "鲜友001",
            "鲜友002",
            "鲜友003",
        ]
        # and the comments it reports are the ones stored
        assert summary["comments"] >= 1
        assert LiveComment.objects.filter(session=session).count() == summary["comments"]
        # and every like request was counted, as taps on the session and one activity each
        assert summary["likes"] >= 1
        session.refresh_from_db()
        assert session.likes >= summary["likes"]
        assert (
            LiveActivity.objects.filter(session=session, action=LiveAction.LIKE).count()
            == summary["likes"]
        )
        # and the orders it reports as paid are paid live orders of this session, each with a
        # succeeded sandbox payment of the full amount
        assert summary["orders"] >= 1
        paid = Order.objects.filter(
            channel="live", source_ref=session.code, status=OrderStatus.PAID
        )
        assert paid.count() == summary["orders"]
        for order in paid:
            assert order.paid_at is not None
            payment = Payment.objects.get(order=order, status=PaymentStatus.SUCCEEDED)
            assert payment.provider == "sandbox"
            assert payment.amount_fen == order.paid_fen > 0
        # and the host console's numbers moved with them
        stats = session_stats(session=session)
        assert stats.viewers == 4
        assert stats.orders == summary["orders"]
        assert stats.gmv_fen == sum(order.paid_fen for order in paid)
        funnel = {step.action: step.persons for step in stats.funnel}
        assert funnel[LiveAction.JOIN] == 4
        assert funnel[LiveAction.PAY] == summary["orders"]

    def test_refuses_a_viewer_count_out_of_range(self) -> None:
        with pytest.raises(CommandError, match="--viewers"):
            call_command("live_simulate", session="L_X", viewers=0)
