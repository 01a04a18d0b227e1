"""Money is an integer number of fen (分). These helpers are the only place it changes shape.

Rounding is half-up (四舍五入), the rule Chinese consumers and tax invoices expect; Python's
built-in `round` is banker's rounding and must not be used for money.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, DecimalException, InvalidOperation

FEN_PER_YUAN = 100


class MoneyError(ValueError):
    """A value cannot be turned into an amount of money."""


def yuan_to_fen(amount: Decimal | str | int) -> int:
    """Convert a yuan amount ("12.345", Decimal, int) to fen, rounding half up."""
    if isinstance(amount, float):
        raise MoneyError("use Decimal or str for money, never float")
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError) as exc:
        raise MoneyError(f"not an amount: {amount!r}") from exc
    if not value.is_finite():
        raise MoneyError(f"not a finite amount: {amount!r}")
    try:
        return int((value * FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except DecimalException as exc:  # "1e9999999" overflows, 200 digits exceed the precision
        raise MoneyError(f"not an amount of money: {amount!r}") from exc


def fen_to_yuan(fen: int) -> Decimal:
    """Return the exact yuan value of an amount in fen."""
    return (Decimal(fen) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def format_fen(fen: int, *, symbol: str = "¥") -> str:
    """Format fen for people: 123456 -> "¥1,234.56", -50 -> "-¥0.50"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{symbol}{fen_to_yuan(abs(fen)):,.2f}"


def multiply_fen(fen: int, factor: Decimal | str | int) -> int:
    """Multiply an amount by a factor (a rate, a quantity share), rounding half up to fen."""
    product = Decimal(fen) * Decimal(factor)
    return int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_off(fen: int, percent: Decimal | str | int) -> int:
    """The discount in fen for `percent` percent off `fen` (e.g. 12 -> 12% off), half up."""
    return multiply_fen(fen, Decimal(percent) / 100)


def allocate(total_fen: int, weights: Sequence[int]) -> list[int]:
    """Split `total_fen` across weights so the parts sum exactly to the total.

    Largest-remainder method: each part gets its floor share, the leftover fen go to the
    largest fractional remainders (earlier lines win ties). Used to spread an order-level
    discount over its lines so refunds of single lines give back the right amount.
    """
    if not weights:
        raise MoneyError("allocate needs at least one weight")
    if any(weight < 0 for weight in weights):
        raise MoneyError("weights must not be negative")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise MoneyError("weights must not all be zero")
    sign = -1 if total_fen < 0 else 1
    magnitude = abs(total_fen)
    floors = [magnitude * weight // weight_sum for weight in weights]
    remainders = [magnitude * weight % weight_sum for weight in weights]
    leftover = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in order[:leftover]:
        floors[index] += 1
    return [sign * part for part in floors]
