"""The writes of Food features (SPEC FD-1…FD-6): the module's public face, re-exported from the feature files (one
block per feature)."""

from __future__ import annotations

# --- regional pools and seasonal calendar (FD-5, FD-6) ---
from freshloop.food.calendar import (
    CalendarTemplateSpec as CalendarTemplateSpec,
)
from freshloop.food.calendar import (
    calendar_draft_record as calendar_draft_record,
)
from freshloop.food.calendar import (
    calendar_template_apply as calendar_template_apply,
)
from freshloop.food.calendar import (
    calendar_template_create as calendar_template_create,
)

# --- pantry (FD-2) ---
from freshloop.food.pantry import (  # noqa: F401
    PantryItemInput,
    ean13_valid,
    pantry_add_from_order,
    pantry_cart_ensure,
    pantry_item_add,
    pantry_item_close,
)
from freshloop.food.pantry_reminders import pantry_reminders_send  # noqa: F401

# --- recipes (FD-4) ---
from freshloop.food.recipe_cart import recipe_add_missing_to_cart  # noqa: F401
from freshloop.food.regions import (
    RegionRuleSpec as RegionRuleSpec,
)
from freshloop.food.regions import (
    region_rule_create as region_rule_create,
)
from freshloop.food.regions import (
    region_rule_delete as region_rule_delete,
)
from freshloop.food.regions import (
    region_rule_update as region_rule_update,
)

# --- smart subscriptions (FD-1) ---
from freshloop.food.subscription_ordering import (
    RunOutcome as RunOutcome,
)
from freshloop.food.subscription_ordering import (
    subscription_order_place as subscription_order_place,
)
from freshloop.food.subscription_ordering import (
    subscriptions_run as subscriptions_run,
)
from freshloop.food.subscriptions import (
    SubscriptionLineIn as SubscriptionLineIn,
)
from freshloop.food.subscriptions import (
    local_today as local_today,
)
from freshloop.food.subscriptions import (
    subscription_cadence_change as subscription_cadence_change,
)
from freshloop.food.subscriptions import (
    subscription_cancel as subscription_cancel,
)
from freshloop.food.subscriptions import (
    subscription_change as subscription_change,
)
from freshloop.food.subscriptions import (
    subscription_create as subscription_create,
)
from freshloop.food.subscriptions import (
    subscription_discount_set as subscription_discount_set,
)
from freshloop.food.subscriptions import (
    subscription_pause as subscription_pause,
)
from freshloop.food.subscriptions import (
    subscription_payment_change as subscription_payment_change,
)
from freshloop.food.subscriptions import (
    subscription_resume as subscription_resume,
)
from freshloop.food.subscriptions import (
    subscription_skip_next as subscription_skip_next,
)

# --- traceability (FD-3) ----------------------------------------------------------------------
from freshloop.food.trace import (  # noqa: F401
    TraceNothingToPublish,
    trace_media_add,
    trace_media_delete,
    trace_origin_assign,
    trace_origin_create,
    trace_origin_update,
    trace_profile_for,
    trace_publish,
    trace_record_add,
    trace_record_delete,
    trace_record_update,
)
