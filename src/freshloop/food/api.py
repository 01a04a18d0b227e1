"""The HTTP API of Food features (SPEC FD-1…FD-6) under /api/v1/food: one sub-router per feature, added below in
its own block."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["食品特色"])


# --- smart subscriptions (FD-1) ---
from freshloop.food.subscription_api import router as subscription_router  # noqa: E402

router.add_router("", subscription_router)

# --- pantry (FD-2) ---
from freshloop.food.pantry_api import router as pantry_router  # noqa: E402

router.add_router("/pantry", pantry_router)


# --- regional pools and seasonal calendar (FD-5, FD-6) ---
from freshloop.food import region_api  # noqa: E402

router.add_router("", region_api.router)


# --- recipes (FD-4) ---

from freshloop.food.recipe_api import router as recipe_router  # noqa: E402

router.add_router("/recipes", recipe_router)


# --- traceability (FD-3) ---
from freshloop.food.trace_api import router as trace_router  # noqa: E402

router.add_router("", trace_router)
