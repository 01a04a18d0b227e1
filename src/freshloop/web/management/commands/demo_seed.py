"""Seed the demo brand 鲜环优选: catalog, warehouses, staff for every role, 500 consumers, lots and
stock, coupons and campaigns, and 18 months of order history.

Idempotent: products and warehouses upsert by code, staff by username, consumers resolve by
phone through OneID, so running it again creates nothing new.
"""

from __future__ import annotations

import random
import time
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from freshloop.catalog.models import Product, Sku, StorageCondition
from freshloop.catalog.services import (
    category_upsert,
    product_image_add,
    product_upsert,
    sku_upsert,
)
from freshloop.core.audit import Actor
from freshloop.core.permissions import ROLE_LABELS, Role, roles_ensure, user_role_assign
from freshloop.identity.errors import InvalidPhone
from freshloop.identity.models import IdentityConflict, Person, PersonStatus
from freshloop.identity.services import (
    IdentifierInput,
    identify,
    match_candidates_generate,
    phone_normalise,
)
from freshloop.inventory.models import Warehouse
from freshloop.inventory.services import warehouse_upsert
from freshloop.web import (
    demo_commerce,
    demo_community,
    demo_data,
    demo_datahub,
    demo_food_recipes,
    demo_food_regions_calendar,
    demo_food_trace,
    demo_fulfillment,
    demo_images,
    demo_live,
    demo_scrm,
)

SEED_ACTOR = Actor.system("demo_seed")


class Command(BaseCommand):
    help = "Load the demo food brand (safe to run again: nothing is duplicated)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--consumers", type=int, default=500)
        parser.add_argument("--seed", type=int, default=20260112)
        parser.add_argument("--password", default=demo_data.DEMO_PASSWORD)
        parser.add_argument("--reset-passwords", action="store_true")
        parser.add_argument(
            "--no-history", action="store_true", help="skip the 18 months of demo orders"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The seed flushes the data hub itself at the end; no background flusher thread in a
        # command that is about to exit.
        with override_settings(DATAHUB_AUTOFLUSH=False):
            self._seed(options)

    def _seed(self, options: dict[str, Any]) -> None:
        started = time.perf_counter()
        rng = random.Random(options["seed"])
        with transaction.atomic():
            catalog = self._catalog()
            warehouses = self._warehouses()
            staff = self._staff(options["password"], reset=options["reset_passwords"])
            consumers = self._consumers(rng, options["consumers"])
            identity_examples = self._identity_examples()
        # Outside the seeding transaction: matching reads what was just committed.
        identity_examples["review_queue"] = match_candidates_generate(
            actor=SEED_ACTOR
        ).candidates_created
        with transaction.atomic():
            people = demo_commerce.demo_people()
            commerce: dict[str, int] = {
                **demo_commerce.seed_stock(rng=rng, warehouses=warehouses),
                **demo_commerce.seed_promotions(people=people),
            }
        if not options["no_history"]:
            commerce.update(demo_commerce.seed_history(rng=rng, people=people))
        with transaction.atomic():
            live = demo_live.seed_live()
        # The demo orders are orders: skipped with --no-history, like the order history.
        fulfillment = demo_fulfillment.seed_fulfillment(
            people=[] if options["no_history"] else demo_commerce.demo_people()
        )
        # --- smart subscriptions (FD-1) ---
        from freshloop.web.demo_food_subscriptions import seed_subscriptions

        seed_subscriptions(people=[] if options["no_history"] else demo_commerce.demo_people())
        scrm = demo_scrm.seed_scrm()
        community = demo_community.seed_community()
        demo_community.invite_in_welcome_journey()
        # Its own random stream: a re-run draws the same viewers whatever the steps before drew.
        datahub = demo_datahub.seed_datahub(rng=random.Random(options["seed"] + 6))
        # --- traceability (FD-3) ---
        food_trace = demo_food_trace.seed_food_trace()
        food_regions_calendar = demo_food_regions_calendar.seed_food_regions_calendar()  # FD-5/6
        seconds = time.perf_counter() - started
        self._report(
            catalog, warehouses, staff, consumers, identity_examples, options["password"], seconds
        )
        self.stdout.write(
            f"  commerce    {commerce.get('lots', 0)} lots, {commerce.get('receipts', 0)} stock receipts (new), "
            f"{commerce.get('coupon_templates', 0)} coupon templates and {commerce.get('campaigns', 0)} campaigns (new), "
            f"{commerce.get('orders', 0)} historical orders imported\n"
            "  coupon codes for /m/coupons: FRESH2026 (新人立减10元), VIP88 (会员8.8折券)\n"
        )
        stream = (
            "HLS test stream ready" if live["stream"] else "no ffmpeg: the room shows the cover"
        )
        self.stdout.write(
            f"  live        /m/live/{live['code']} (in progress; {stream})\n"
            f"              host console /console/live/{live['code']} (login live_host)\n"
            f"              viewers: manage.py live_simulate --session {live['code']} --viewers 20\n"
        )
        self.stdout.write(
            f"  scrm        {scrm['journeys']} journeys new (running: {demo_scrm.WINBACK_JOURNEY}, "
            f"{demo_scrm.WELCOME_JOURNEY}); WeCom sandbox phones /console/scrm/sandbox/ "
            "(login community_manager or customer_service)\n"
            f"              the loop: log in /m/login as {demo_scrm.LOOP_PHONE}, add to cart in the "
            f"live room, leave; watch /console/scrm/sandbox/{demo_scrm.LOOP_CONTACT}\n"
            f"              mass messages /console/scrm/broadcasts/ ({scrm['broadcasts']} new: "
            f"{demo_scrm.BROADCAST_SENT}, {demo_scrm.BROADCAST_NEXT})\n"
        )
        self.stdout.write(
            f"  community   {community['groups']} WeCom groups synced, {community['created']} new "
            f"(活码 {demo_community.JOIN_CODE_NAME}, challenge {demo_community.CHALLENGE_NAME}); "
            "/console/community/ (login community_manager)\n"
        )
        self.stdout.write(
            f"  fulfillment {fulfillment['carriers']} carriers new ({len(demo_fulfillment.CARRIERS)} with rate tables), "
            f"{fulfillment['weights']} SKU weights set, {fulfillment['rules']} after-sales rules new, "
            f"logger {demo_fulfillment.DEVICE_CODE}; {fulfillment['orders']} demo orders new: "
            f"{fulfillment['delivered']} parcels delivered, {fulfillment['moving']} moving (sandbox tick), "
            f"{fulfillment['excursions']} excursion(s), {fulfillment['failed']} allocation(s) failed\n"
            "              /console/fulfillment/ (login supply_chain); the buyer's parcels on /m/orders, "
            "messages on /m/messages\n"
        )
        self.stdout.write(
            f"  traceability {food_trace['lots']} lots of 牧场鲜牛奶 published (pasture panorama); "
            f"scan page {food_trace['url']}; /console/food/trace/ (login supply_chain)\n"
        )
        shop_key = datahub["keys"].get("H5 商城 SDK", "(见 data/demo_write_keys.json)")
        self.stdout.write(
            f"  data hub    /console/data/ dashboard, segments, profiles (login marketer); "
            f"{datahub['order_events']} order events + {datahub['behaviour_events']} behaviour events new, "
            f"{datahub['flushed']} flushed, {datahub['segments']} demo segments\n"
            f"              track API: POST /api/v1/track with Authorization: Bearer {shop_key}\n"
        )
        # --- pantry (FD-2) ---
        from freshloop.web import demo_food_pantry

        self.stdout.write(demo_food_pantry.seed_pantry())

        # --- regional pools and seasonal calendar (FD-5, FD-6) ---
        self.stdout.write(
            f"  food        {food_regions_calendar['region_rules']} regional rules new "
            f"(籼米 first in the south, 粳米 in the north) /console/food/regions/; "
            f"{food_regions_calendar['calendar_templates']} calendar templates new (冬至, 中秋节) "
            "/console/food/calendar/ (login marketer)\n"
        )

        # --- community group buying (#18) ---
        from freshloop.web.demo_groupbuy import seed_groupbuy

        groupbuy = seed_groupbuy(people=demo_commerce.demo_people())
        self.stdout.write(
            f"  groupbuy    leader {groupbuy['phone']} (log in /m/login) → /leader/; deal "
            f"/m/groupbuy/deals/{groupbuy['deal']}, the leader's group "
            f"/m/groupbuy/groups/{groupbuy['group']}; presale "
            f"/m/groupbuy/presales/{groupbuy['presale']} (also a card in the live room); "
            "/console/groupbuy/ (login community_manager)\n"
        )

        # --- intelligence (DH-7): models trained on the demo's own history ---
        from freshloop.web.demo_intelligence import seed_intelligence

        trained = seed_intelligence()
        self.stdout.write(
            "  intelligence "
            + "; ".join(f"{outcome.kind} {outcome.message}" for outcome in trained)
            + " — /console/intelligence/ (login marketer)\n"
        )

        # --- recipes (FD-4, BM-6) ---
        recipes = demo_food_recipes.seed_recipes()
        self.stdout.write(
            f"  recipes     {recipes['recipes']} recipes imported from howtocook-mcp, "
            f"{recipes['materials']} materials new; /m/recipes, /console/content/ (login marketer)\n"
        )

    def _catalog(self) -> dict[str, int]:
        before = Sku.objects.count()
        categories = {
            category.code: category_upsert(code=category.code, name=category.name, sort_order=index)
            for index, category in enumerate(demo_data.CATEGORIES)
        }
        for item in demo_data.PRODUCTS:
            product = product_upsert(
                code=item.code,
                name=item.name,
                category=categories[item.category],
                storage=StorageCondition(item.storage),
                shelf_life_days=item.shelf_life_days,
                origin=item.origin,
                description=item.description,
            )
            for code, spec, price_fen in item.skus:
                sku_upsert(product=product, code=code, spec=spec, price_fen=price_fen)
            if not product.images.exists():
                # Drawn for the demo (web/demo_images.py), stored like any back-office upload.
                product_image_add(
                    product=product,
                    file=demo_images.product_illustration(code=item.code, category=item.category),
                    actor=SEED_ACTOR,
                    alt=f"{item.name}插画",
                )
        return {
            "products": Product.objects.count(),
            "skus": Sku.objects.count(),
            "skus_new": Sku.objects.count() - before,
        }

    def _warehouses(self) -> list[Warehouse]:
        return [
            warehouse_upsert(
                code=w.code,
                name=w.name,
                province=w.province,
                city=w.city,
                address=w.address,
                ambient=w.ambient,
                chilled=w.chilled,
                frozen=w.frozen,
            )
            for w in demo_data.WAREHOUSES
        ]

    def _staff(self, password: str, *, reset: bool) -> list[tuple[str, str, bool]]:
        """One account per role; returns (username, role label, password set in this run)."""
        roles_ensure()
        accounts = []
        for role in Role:
            user, created = User.objects.get_or_create(
                username=role.value,
                defaults={
                    "is_staff": True,
                    "is_superuser": role == Role.ADMIN,
                    "first_name": ROLE_LABELS[role],
                },
            )
            password_set = created or reset
            if password_set:
                user.set_password(password)
                user.save(update_fields=["password"])
            user_role_assign(actor=SEED_ACTOR, user=user, role=role)
            accounts.append((user.username, ROLE_LABELS[role], password_set))
        return accounts

    def _consumers(self, rng: random.Random, count: int) -> dict[str, Any]:
        provinces = [p for p, _, _ in demo_data.PROVINCES]
        weights = [w for _, w, _ in demo_data.PROVINCES]
        cities = {p: c for p, _, c in demo_data.PROVINCES}
        created = 0
        phones: list[str] = []
        while len(phones) < count:
            candidate = rng.choice(demo_data.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            try:
                phone = phone_normalise(candidate)
            except InvalidPhone:
                continue
            if phone in phones:
                continue
            province = rng.choices(provinces, weights=weights)[0]
            gender = rng.choice(["female", "female", "male"])  # dairy shoppers skew female
            name = rng.choice(demo_data.SURNAMES) + rng.choice(demo_data.GIVEN_NAMES)
            result = identify(
                identifiers=[IdentifierInput(type="phone", value=phone, verified=True)],
                traits={
                    "province": province,
                    "city": rng.choice(cities[province]),
                    "gender": gender,
                    "birth_year": rng.randint(1958, 2004),
                    "name": name,
                },
                source="demo_seed",
                display_name=f"{name[0]}{rng.choice(demo_data.NICKNAMES)}",
                actor=SEED_ACTOR,
            )
            created += int(result.created)
            phones.append(phone)
        return {
            "total": len(phones),
            "created": created,
            "first_phone": phones[0] if phones else "",
        }

    def _identity_examples(self) -> dict[str, int]:
        """A few realistic OneID situations so the back office has something to review."""

        def seen(source: str, *identifiers: tuple[str, str], **traits: str) -> None:
            identify(
                identifiers=[
                    IdentifierInput(
                        type=kind,
                        value=value,
                        scope="wx_sandbox_app" if kind == "wechat_openid" else "",
                        verified=kind in {"phone", "wechat_openid"},
                    )
                    for kind, value in identifiers
                ],
                traits=traits,
                source=source,
                actor=SEED_ACTOR,
            )

        tablet = ("device_id", "demo-family-tablet")
        # A family tablet used by two people with their own verified phones: a conflict.
        seen("live", ("phone", "13700001001"), tablet, name="陈晓燕", city="杭州", province="浙江")
        seen("live", ("phone", "13700001002"), tablet, name="陈建国", city="杭州", province="浙江")
        # One customer known twice with no shared identifier: identity_match proposes them.
        seen(
            "shop",
            ("phone", "13700001003"),
            name="林雨桐",
            address="福建省厦门市思明区湖滨南路 88 号",
            city="厦门",
            province="福建",
        )
        seen(
            "store_pos",
            ("member_no", "DEMO-VIP-0001"),
            name="林雨桐",
            address="福建省厦门市思明区湖滨南路 88 号",
            city="厦门",
            province="福建",
        )
        # A shop customer and a WeChat visitor who log in with the same phone: one OneID.
        openid = ("wechat_openid", "demo-openid-merge")
        seen("shop", ("phone", "13700001004"))
        seen("wechat_oauth", openid, ("device_id", "demo-phone-merge"))
        seen("h5_otp", ("phone", "13700001004"), openid)
        return {
            "conflicts": IdentityConflict.objects.count(),
            "merged_people": Person.objects.filter(status=PersonStatus.MERGED).count(),
        }

    def _report(
        self,
        catalog: dict[str, int],
        warehouses: list[Warehouse],
        staff: list[tuple[str, str, bool]],
        consumers: dict[str, Any],
        identity: dict[str, int],
        password: str,
        seconds: float,
    ) -> None:
        write = self.stdout.write
        write(f"\n{demo_data.BRAND_NAME} demo data ready in {seconds:.1f}s")
        write(
            f"  catalog     {catalog['products']} products, {catalog['skus']} SKUs ({catalog['skus_new']} new)"
        )
        write("  warehouses  " + ", ".join(w.name for w in warehouses))
        write(
            f"  consumers   {consumers['total']} ({consumers['created']} new), across {len(demo_data.PROVINCES)} provinces"
        )
        write(
            f"  OneID       {identity['conflicts']} conflict(s) to review, {identity['merged_people']} merged visitor(s), {identity['review_queue']} new likely duplicate(s) in the review queue"
        )
        write("\n  Demo logins (console /console/ and back office /admin/):")
        for username, label, password_set in staff:
            shown = password if password_set else "(unchanged)"
            write(f"    {username:<18} {label:<6} {shown}")
        if consumers["first_phone"]:
            local = consumers["first_phone"].removeprefix("+86")
            write(
                f"\n  Consumer H5 /m/login: phone {local} (or any number); the sandbox shows the code on the page.\n"
            )
