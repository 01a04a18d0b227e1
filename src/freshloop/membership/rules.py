"""The programme's rules in one place: conversion rates, limits, the default levels, and the
shapes other modules receive (benefits, ledger checks)."""

from __future__ import annotations

from dataclasses import dataclass

from freshloop.core.audit import Actor

FEN_PER_POINT = 1
POINTS_PER_YUAN_PAID = 1
MULTIPLIER_BASE_BP = 10000
MAX_REDEEM_PERCENT = 50
MAX_ADJUST_POINTS = 10_000_000
REF_MAX_LENGTH = 64
SYSTEM_ACTOR = Actor.system("membership")


@dataclass(frozen=True)
class DefaultLevel:
    code: str
    name: str
    min_lifetime_spend_fen: int
    min_points_earned: int
    discount_percent: int
    free_shipping: bool
    points_multiplier_bp: int
    sort_order: int


DEFAULT_LEVELS: tuple[DefaultLevel, ...] = (
    DefaultLevel("regular", "普通会员", 0, 0, 0, False, 10000, 10),
    DefaultLevel("silver", "银卡", 100_000, 1_000, 2, False, 12000, 20),
    DefaultLevel("gold", "金卡", 500_000, 5_000, 5, True, 15000, 30),
    DefaultLevel("black", "黑金", 2_000_000, 20_000, 8, True, 20000, 40),
)


@dataclass(frozen=True)
class MemberBenefits:
    """What a member's level gives at checkout (promotions has a structurally equal type)."""

    level_code: str
    level_name: str
    discount_percent: int
    free_shipping: bool


@dataclass(frozen=True)
class LedgerVerification:
    person_id: int
    ok: bool
    entries_checked: int
    first_broken_entry_id: int | None = None
    problem: str = ""
