"""Demo data of smart subscriptions (FD-1): a subscription price on the pasture milk and one
demo household subscribed at the cadence its own demo purchases suggest, paid by 自动扣款
under a contract signed at the sandbox platform (when the sandbox is on). Idempotent."""

from __future__ import annotations

from freshloop.catalog.models import Sku
from freshloop.core.audit import Actor
from freshloop.food.models import Subscription
from freshloop.food.selectors import cadence_suggestion_for
from freshloop.food.services import (
    SubscriptionLineIn,
    subscription_create,
    subscription_discount_set,
)
from freshloop.identity.models import Person
from freshloop.orders.selectors import address_default_for_person
from freshloop.payments.errors import PaymentProviderUnavailable
from freshloop.payments.services import contract_sandbox_sign

MILK_SKU = "milk-pasture-950"
DISCOUNT_PERCENT = 5
DEMO_ADDRESS = {
    "name": "演示用户",
    "phone": "13800138000",
    "province": "上海市",
    "city": "上海市",
    "district": "浦东新区",
    "detail": "张江路1号",
}


def seed_subscriptions(*, people: list[Person]) -> dict[str, int]:
    milk = Sku.objects.filter(code=MILK_SKU).first()
    if milk is None:
        return {"subscriptions": 0}
    subscription_discount_set(
        product_id=milk.product_id, percent_off=DISCOUNT_PERCENT, actor=Actor.system("demo")
    )
    created = 0
    for person in people[:1]:
        if Subscription.objects.filter(person=person).exists():
            continue
        suggestion = cadence_suggestion_for(person=person, sku_id=milk.pk)
        saved = address_default_for_person(person=person)
        try:
            contract_sandbox_sign(person_id=person.pk)
            payment_method = "contract"
        except PaymentProviderUnavailable:  # a deployment without the sandbox
            payment_method = "pay_now"
        subscription_create(
            person=person,
            items=[SubscriptionLineIn(sku_id=milk.pk, quantity=1)],
            cadence_kind="every_days",
            cadence_value=suggestion.every_days if suggestion else 7,
            address=saved.as_order_address() if saved else dict(DEMO_ADDRESS),
            payment_method=payment_method,
        )
        created += 1
    return {"subscriptions": created}
