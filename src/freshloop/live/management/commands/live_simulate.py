"""Drive simulated viewers through the public API so the room and the host console move.

Each viewer logs in with a phone code (the sandbox returns it), joins, comments, likes, clicks
and adds products, and some of them buy and pay in the sandbox cashier — exactly the calls a
phone would make. Usage:

    manage.py live_simulate --session L_… --viewers 20 [--minutes 3] [--base-url http://127.0.0.1:8000]
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError

COMMENTS = [
    "这个奶是当天的吗？",
    "主播今天好漂亮",
    "上次买的酸奶孩子很喜欢",
    "北京能发冷链吗",
    "已下单！",
    "求讲讲A2奶",
    "鸡蛋什么时候上",
    "满减可以叠加券吗",
    "来了来了",
    "再来一波秒杀",
]
ADDRESS = {
    "name": "模拟观众",
    "phone": "13800000000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张江路 1 号",
}
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Command(BaseCommand):
    help = "Simulate viewers in a live session through the public HTTP API."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--session", required=True, help="the session code (L_…)")
        parser.add_argument("--viewers", type=int, default=20)
        parser.add_argument("--minutes", type=float, default=3.0)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--buy-share", type=float, default=0.3)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
        if not 1 <= options["viewers"] <= 2000:
            raise CommandError("--viewers must be between 1 and 2000")
        summary = asyncio.run(self._run(options))
        self.stdout.write(
            f"simulated {options['viewers']} viewers: {summary['comments']} comments, "
            f"{summary['likes']} likes, {summary['orders']} orders paid, {summary['errors']} errors"
        )

    async def _run(self, options: dict[str, Any]) -> dict[str, int]:
        rng = random.Random(options["seed"])  # noqa: S311 (a simulation, not security)
        totals = {"comments": 0, "likes": 0, "orders": 0, "errors": 0}
        deadline = asyncio.get_running_loop().time() + options["minutes"] * 60
        base = options["base_url"].rstrip("/")
        code = options["session"]

        async def viewer(number: int) -> None:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                try:
                    await self._viewer(client, code, number, rng, deadline, options, totals)
                except httpx.HTTPError as error:
                    totals["errors"] += 1
                    self.stderr.write(f"viewer {number}: {error}")

        await asyncio.gather(*(viewer(n) for n in range(options["viewers"])))
        return totals

    async def _viewer(
        self,
        client: httpx.AsyncClient,
        code: str,
        number: int,
        rng: random.Random,
        deadline: float,
        options: dict[str, Any],
        totals: dict[str, int],
    ) -> None:
        await asyncio.sleep(rng.uniform(0, 5))
        phone = f"1770000{number:04d}"
        sent = (await client.post("/api/v1/auth/otp", json={"phone": phone})).json()
        if not sent.get("sandbox_code"):
            raise CommandError("the simulator needs the sandbox SMS echo (not in production)")
        login = await client.post(
            "/api/v1/auth/otp/verify", json={"phone": phone, "code": sent["sandbox_code"]}
        )
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        await client.post(f"/api/v1/live/{code}/join", json={"nickname": f"鲜友{number:03d}"})
        room = (await client.get(f"/api/v1/live/{code}")).json()
        skus = [p["sku_id"] for p in room["products"]]
        wants_to_buy = rng.random() < options["buy_share"]
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            roll = rng.random()
            if roll < 0.35:
                response = await client.post(
                    f"/api/v1/live/{code}/comments", json={"text": rng.choice(COMMENTS)}
                )
                totals["comments"] += int(response.status_code == 201)
            elif roll < 0.6:
                await client.post(f"/api/v1/live/{code}/likes", json={"count": rng.randint(1, 8)})
                totals["likes"] += 1
            elif roll < 0.8 and skus:
                await client.post(
                    f"/api/v1/live/{code}/track",
                    json={"action": "click_product", "sku_id": rng.choice(skus)},
                )
            elif wants_to_buy and skus:
                wants_to_buy = False
                if await self._buy(client, code, rng.choice(skus)):
                    totals["orders"] += 1
            await client.post(f"/api/v1/live/{code}/heartbeat", json={})
            await asyncio.sleep(rng.uniform(3, 12))

    async def _buy(self, client: httpx.AsyncClient, code: str, sku_id: int) -> bool:
        await client.post(
            f"/api/v1/live/{code}/track", json={"action": "add_to_cart", "sku_id": sku_id}
        )
        order = await client.post(
            "/api/v1/shop/orders",
            json={
                "items": [{"sku_id": sku_id, "quantity": 1}],
                "channel": "live",
                "source_ref": code,
                "address": ADDRESS,
            },
        )
        if order.status_code not in {200, 201}:
            return False
        payment = await client.post(
            "/api/v1/payments",
            json={"order_no": order.json()["order_no"], "provider": "sandbox", "client_kind": "h5"},
        )
        cashier_url = payment.json()["prompt"]["redirect_url"]
        page = await client.get(cashier_url)
        token = CSRF.search(page.text)
        if token is None:
            return False
        paid = await client.post(
            cashier_url,
            data={"csrfmiddlewaretoken": token.group(1), "action": "succeed"},
            headers={"Referer": str(page.url)},
        )
        return paid.status_code in {200, 302}
