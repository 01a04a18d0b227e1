"""The reads of Food features (SPEC FD-1…FD-6): the module's public face, re-exported from the feature files (one
block per feature)."""

from __future__ import annotations

# --- regional pools and seasonal calendar (FD-5, FD-6) ---
from freshloop.food.calendar import (
    Occasion as Occasion,
)
from freshloop.food.calendar import (
    calendar_drafts_for as calendar_drafts_for,
)
from freshloop.food.calendar import (
    calendar_template_get as calendar_template_get,
)
from freshloop.food.calendar import (
    calendar_template_window as calendar_template_window,
)
from freshloop.food.calendar import (
    festivals as festivals,
)
from freshloop.food.calendar import (
    month_grid as month_grid,
)
from freshloop.food.calendar import (
    occasions as occasions,
)
from freshloop.food.calendar import (
    solar_terms as solar_terms,
)
from freshloop.food.calendar import (
    statutory_days as statutory_days,
)

# --- pantry (FD-2) ---
from freshloop.food.pantry import (  # noqa: F401
    WasteStats,
    expiry_colour,
    pantry_barcode_lookup,
    pantry_item_get_for_person,
    pantry_items_for_person,
    pantry_waste_stats,
    recipes_for_pantry_item,
    shanghai_today,
)
from freshloop.food.pantry import ean13_check_digit as ean13_check_digit
from freshloop.food.pantry_reminders import DEFAULT_DAYS_BEFORE as DEFAULT_DAYS_BEFORE
from freshloop.food.pantry_reminders import reminder_date, reorder_url  # noqa: F401

# --- recipes (FD-4) ---
from freshloop.food.recipe_cart import (  # noqa: F401
    PlanLine,
    RecipePlan,
    recipe_plan,
    recipe_recommendations_for_person,
)
from freshloop.food.regions import (
    NORTH as NORTH,
)
from freshloop.food.regions import (
    SOUTH as SOUTH,
)
from freshloop.food.regions import (
    Region as Region,
)
from freshloop.food.regions import (
    person_ids_in_region as person_ids_in_region,
)
from freshloop.food.regions import (
    person_ids_in_regions as person_ids_in_regions,
)
from freshloop.food.regions import (
    person_region as person_region,
)
from freshloop.food.regions import (
    products_rank_for_region as products_rank_for_region,
)
from freshloop.food.regions import (
    province_zone as province_zone,
)
from freshloop.food.regions import (
    region_choices as region_choices,
)
from freshloop.food.regions import (
    region_from_phone as region_from_phone,
)
from freshloop.food.regions import (
    region_rules_in_force as region_rules_in_force,
)
from freshloop.food.regions import (
    rules_signature as rules_signature,
)

# --- smart subscriptions (FD-1) ---
from freshloop.food.subscriptions import (
    cadence_suggestion_for as cadence_suggestion_for,
)
from freshloop.food.subscriptions import (
    subscription_discount_percent as subscription_discount_percent,
)
from freshloop.food.subscriptions import (
    subscription_get_for_person as subscription_get_for_person,
)
from freshloop.food.subscriptions import (
    subscription_list_for_person as subscription_list_for_person,
)

# --- traceability (FD-3) ----------------------------------------------------------------------
from freshloop.food.trace_selectors import (  # noqa: F401
    ColdChain,
    TracePage,
    trace_cold_chain,
    trace_lot_rows,
    trace_origins,
    trace_profile_of,
    trace_public_page,
)
from freshloop.food.trace_tokens import lot_token, lot_token_read, lot_trace_url  # noqa: F401
