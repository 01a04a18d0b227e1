"""The flash-sale gate in Redis (used when `REDIS_URL` is set): thousands of buyers are told
"yours" or "sold out" by one atomic Lua script each, and only the winners reach the database.

Keys of one sale (one hash tag, so a Redis Cluster keeps them on one slot):

- `freshloop:flash:{<id>}:meta`     hash: quantity, per_user_limit, ends_at_ms, closed
- `freshloop:flash:{<id>}:left`     units still to be had
- `freshloop:flash:{<id>}:users`    hash person_id → units the person holds (pending + settled)
- `freshloop:flash:{<id>}:pending`  hash claim_ref → "person_id:quantity:reserved_at_ms": units
                                    reserved here whose database claim may not exist yet
- `freshloop:flash:{<id>}:keys`     set of the Idempotency-Keys that reserved units here: a
                                    request under one of them may be a winner's retry, which is
                                    answered with its order (a database read), never "sold out"

Invariant kept by every script: `left + Σ users = quantity` and `Σ users ≥ Σ pending`.
The database is the truth for settled claims (it holds the orders and the money); Redis only
adds the pending reservations on top. `rederive` rebuilds `left` and `users` from the database
figures plus the pending records, in one atomic step (see `services.flash_sale_reconcile`).

Sold out is answered from here alone: a buyer meeting `left = 0` under a key the sale has not
seen costs one Redis round trip and no SQL (`sold_out`, asked before the buyer is even looked
up, and `reserve`).

Below the engine, the steps that join it to the database: loading a sale's figures, reserving
for a buyer (refusals as the sale's errors), and repairing the gate from the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from functools import lru_cache
from typing import Any, cast

import redis

from freshloop.core import clock
from freshloop.identity.models import Person
from freshloop.live.flash_sale.errors import (
    FlashSaleLimitExceeded,
    FlashSaleNotOpen,
    FlashSaleSoldOut,
)
from freshloop.live.models import ClaimStatus, FlashSale, FlashSaleClaim, FlashSaleStatus
from freshloop.orders.models import Order

logger = logging.getLogger(__name__)

SALES_SET = "freshloop:flash:sales"
HELD_OR_PAID = (ClaimStatus.HELD, ClaimStatus.PAID)

# Results of RESERVE (a non-negative number is the units left after the reservation).
SOLD_OUT = -1
LIMIT_EXCEEDED = -2
NOT_LOADED = -3
CLOSED = -4
MAYBE_REPLAY = -5  # the key reserved here before: look for its order first

KEY_NAMES = ("meta", "left", "users", "pending", "keys")

_RESERVE = """
-- KEYS: meta, left, users, pending, keys
-- ARGV: person_id, quantity, claim_ref, now_ms, idempotency_key, check_key ('1' or '0')
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return -3 end
if ARGV[5] ~= '' and ARGV[6] == '1' and redis.call('SISMEMBER', KEYS[5], ARGV[5]) == 1 then
  return -5
end
local meta = redis.call('HMGET', KEYS[1], 'per_user_limit', 'ends_at_ms', 'closed')
if meta[3] == '1' or tonumber(ARGV[4]) >= tonumber(meta[2]) then return -4 end
local quantity = tonumber(ARGV[2])
local left = tonumber(redis.call('GET', KEYS[2]))
if left < quantity then return -1 end
local held = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if held + quantity > tonumber(meta[1]) then return -2 end
redis.call('DECRBY', KEYS[2], quantity)
redis.call('HINCRBY', KEYS[3], ARGV[1], quantity)
redis.call('HSET', KEYS[4], ARGV[3], ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[4])
if ARGV[5] ~= '' then redis.call('SADD', KEYS[5], ARGV[5]) end
return left - quantity
"""

_SOLD_OUT = """
-- KEYS: meta, left, keys; ARGV: idempotency_key, now_ms. 1 when no unit is left for anyone
-- and the key is not one that reserved here (a winner's retry is answered with its order).
-- 0 means "ask the full way": not loaded, closed (its own answer), or units left.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local left = redis.call('GET', KEYS[2])
if not left or tonumber(left) > 0 then return 0 end
local meta = redis.call('HMGET', KEYS[1], 'ends_at_ms', 'closed')
if meta[2] == '1' or tonumber(ARGV[2]) >= tonumber(meta[1]) then return 0 end
if ARGV[1] ~= '' and redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 0 end
return 1
"""

_ROLLBACK = """
-- KEYS: left, users, pending; ARGV: claim_ref. Gives a pending reservation back, once.
local record = redis.call('HGET', KEYS[3], ARGV[1])
if not record then return 0 end
local person, quantity = string.match(record, '^(%d+):(%d+):')
quantity = tonumber(quantity)
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('INCRBY', KEYS[1], quantity)
if redis.call('HINCRBY', KEYS[2], person, -quantity) <= 0 then redis.call('HDEL', KEYS[2], person) end
return quantity
"""

_GIVE_BACK = """
-- KEYS: left, users; ARGV: person_id, quantity. A settled claim was released in the database.
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
local quantity = tonumber(ARGV[2])
redis.call('INCRBY', KEYS[1], quantity)
if redis.call('HINCRBY', KEYS[2], ARGV[1], -quantity) <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return redis.call('GET', KEYS[1])
"""

_REDERIVE = """
-- KEYS: meta, left, users, pending, keys
-- ARGV: quantity, per_user_limit, ends_at_ms, closed, settled_refs_csv, n, n idempotency
--       keys, then pairs person_id, units (the database's held + paid claims per person)
-- The keys of the database's claims are added to `keys` (never removed: a key left over from
-- a rolled-back reservation only sends its next request the full way).
-- Pending records whose ref the database already holds are settled: the database figures
-- count them, so they are not added twice. Returns {changed, old_left, new_left}.
redis.call('HSET', KEYS[1], 'quantity', ARGV[1], 'per_user_limit', ARGV[2],
           'ends_at_ms', ARGV[3], 'closed', ARGV[4])
local settled = {}
for ref in string.gmatch(ARGV[5], '[^,]+') do settled[ref] = true end
local key_count = tonumber(ARGV[6])
for i = 7, 6 + key_count do redis.call('SADD', KEYS[5], ARGV[i]) end
local users = {}
local claimed = 0
for i = 7 + key_count, #ARGV, 2 do
  local units = tonumber(ARGV[i + 1])
  users[ARGV[i]] = (users[ARGV[i]] or 0) + units
  claimed = claimed + units
end
local pending = redis.call('HGETALL', KEYS[4])
for i = 1, #pending, 2 do
  if not settled[pending[i]] then
    local person, quantity = string.match(pending[i + 1], '^(%d+):(%d+):')
    users[person] = (users[person] or 0) + tonumber(quantity)
    claimed = claimed + tonumber(quantity)
  end
end
local new_left = tonumber(ARGV[1]) - claimed
if new_left < 0 then new_left = 0 end
local old_left = redis.call('GET', KEYS[2])
local changed = 0
if old_left == false or tonumber(old_left) ~= new_left then changed = 1 end
local current = redis.call('HGETALL', KEYS[3])
local current_map = {}
local current_count = 0
for i = 1, #current, 2 do
  current_map[current[i]] = tonumber(current[i + 1])
  current_count = current_count + 1
end
local wanted_count = 0
for person, units in pairs(users) do
  wanted_count = wanted_count + 1
  if current_map[person] ~= units then changed = 1 end
end
if wanted_count ~= current_count then changed = 1 end
if changed == 1 then
  redis.call('SET', KEYS[2], new_left)
  redis.call('DEL', KEYS[3])
  for person, units in pairs(users) do
    if units > 0 then redis.call('HSET', KEYS[3], person, units) end
  end
end
return {changed, old_left or -1, new_left}
"""


@dataclasses.dataclass(frozen=True)
class PendingClaim:
    claim_ref: str
    person_id: int
    quantity: int
    reserved_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class SaleFigures:
    """What the database says about one sale (see `FlashRedis.rederive`)."""

    quantity: int
    per_user_limit: int
    ends_at: dt.datetime
    closed: bool
    units_by_person: dict[int, int]
    settled_refs: frozenset[str]
    idempotency_keys: frozenset[str] = frozenset()


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


class FlashRedis:
    """The Redis side of flash sales; every method is one atomic step."""

    def __init__(self, url: str) -> None:
        # Request threads wait for a free connection instead of failing when all are busy.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=20, decode_responses=True
        )
        self.client: redis.Redis = redis.Redis(connection_pool=pool)
        self._reserve = self.client.register_script(_RESERVE)
        self._rollback = self.client.register_script(_ROLLBACK)
        self._give_back = self.client.register_script(_GIVE_BACK)
        self._rederive = self.client.register_script(_REDERIVE)
        self._sold_out = self.client.register_script(_SOLD_OUT)

    @staticmethod
    def keys(flash_sale_id: int) -> dict[str, str]:
        base = f"freshloop:flash:{{{flash_sale_id}}}"
        return {name: f"{base}:{name}" for name in KEY_NAMES}

    def reserve(
        self,
        *,
        flash_sale_id: int,
        person_id: int,
        quantity: int,
        claim_ref: str,
        now: dt.datetime,
        idempotency_key: str = "",
        check_key: bool = True,
    ) -> int:
        """Take `quantity` units for the person and record the pending claim, or refuse.

        Returns the units left (≥ 0) or SOLD_OUT / LIMIT_EXCEEDED / NOT_LOADED / CLOSED, or
        MAYBE_REPLAY (nothing taken) when `check_key` and the key reserved here before.
        """
        k = self.keys(flash_sale_id)
        result = self._reserve(
            keys=[k["meta"], k["left"], k["users"], k["pending"], k["keys"]],
            args=[person_id, quantity, claim_ref, _ms(now), idempotency_key, int(check_key)],
        )
        return int(result)

    def sold_out(self, *, flash_sale_id: int, idempotency_key: str, now: dt.datetime) -> bool:
        """True when the sale is loaded, open, has no unit left, and the key never reserved
        here: the answer is "sold out" whoever asks. False means "ask the full way"."""
        k = self.keys(flash_sale_id)
        result = self._sold_out(
            keys=[k["meta"], k["left"], k["keys"]], args=[idempotency_key, _ms(now)]
        )
        return bool(int(result))

    def rollback(self, *, flash_sale_id: int, claim_ref: str) -> int:
        """Give a pending reservation's units back (settlement failed or never happened).
        Returns the units given back; 0 when the reservation was already gone."""
        k = self.keys(flash_sale_id)
        return int(self._rollback(keys=[k["left"], k["users"], k["pending"]], args=[claim_ref]))

    def settled(self, *, flash_sale_id: int, claim_ref: str) -> None:
        """The database now holds the claim: the pending record is no longer needed."""
        self.client.hdel(self.keys(flash_sale_id)["pending"], claim_ref)

    def give_back(self, *, flash_sale_id: int, person_id: int, quantity: int) -> int | None:
        """A settled claim was released: its units are sellable again. None if not loaded."""
        k = self.keys(flash_sale_id)
        result = self._give_back(keys=[k["left"], k["users"]], args=[person_id, quantity])
        return None if int(result) == NOT_LOADED else int(result)

    def close(self, *, flash_sale_id: int) -> None:
        self.client.hset(self.keys(flash_sale_id)["meta"], "closed", "1")

    def left(self, *, flash_sale_id: int) -> int | None:
        value = self.client.get(self.keys(flash_sale_id)["left"])
        return None if value is None else int(value)

    def held_by(self, *, flash_sale_id: int, person_id: int) -> int:
        value = self.client.hget(self.keys(flash_sale_id)["users"], str(person_id))
        return int(value or 0)

    def pending(self, *, flash_sale_id: int) -> list[PendingClaim]:
        records = cast(dict[str, str], self.client.hgetall(self.keys(flash_sale_id)["pending"]))
        claims = []
        for claim_ref, record in records.items():
            person_id, quantity, reserved_ms = record.split(":")
            claims.append(
                PendingClaim(
                    claim_ref=claim_ref,
                    person_id=int(person_id),
                    quantity=int(quantity),
                    reserved_at=dt.datetime.fromtimestamp(int(reserved_ms) / 1000, dt.UTC),
                )
            )
        return sorted(claims, key=lambda claim: claim.reserved_at)

    def rederive(self, *, flash_sale_id: int, figures: SaleFigures) -> tuple[bool, int, int]:
        """Make `left` and `users` agree with the database plus the pending reservations
        (loads a sale that is not in Redis yet). Returns (changed, old_left, new_left)."""
        k = self.keys(flash_sale_id)
        args: list[Any] = [
            figures.quantity,
            figures.per_user_limit,
            _ms(figures.ends_at),
            "1" if figures.closed else "0",
            ",".join(sorted(figures.settled_refs)),
            len(figures.idempotency_keys),
            *sorted(figures.idempotency_keys),
        ]
        for person_id, units in sorted(figures.units_by_person.items()):
            args += [person_id, units]
        changed, old_left, new_left = self._rederive(
            keys=[k["meta"], k["left"], k["users"], k["pending"], k["keys"]], args=args
        )
        self.client.sadd(SALES_SET, flash_sale_id)
        return bool(changed), int(old_left), int(new_left)

    def sale_ids(self) -> list[int]:
        return sorted(int(member) for member in self.client.smembers(SALES_SET))

    def forget(self, *, flash_sale_id: int) -> None:
        """Drop a finished sale's keys (nothing pending any more)."""
        self.client.delete(*self.keys(flash_sale_id).values())
        self.client.srem(SALES_SET, flash_sale_id)


@lru_cache(maxsize=4)
def _engine_for(url: str) -> FlashRedis:
    return FlashRedis(url)


def flash_engine() -> FlashRedis | None:
    """The Redis engine when `REDIS_URL` is configured, else None (embedded mode)."""
    from django.conf import settings

    url: str = settings.FRESHLOOP.redis_url
    return _engine_for(url) if url else None


# --- the gate and the database ----------------------------------------------------------------


def sale_figures(sale: FlashSale) -> SaleFigures:
    """The sale's settled claims per person, as the database holds them."""
    claims = FlashSaleClaim.objects.filter(flash_sale_id=sale.pk, status__in=HELD_OR_PAID)
    units: dict[int, int] = {}
    refs: set[str] = set()
    order_nos: list[str] = []
    for claim_ref, person_id, quantity, order_ref in claims.values_list(
        "claim_ref", "person_id", "quantity", "order_ref"
    ):
        units[person_id] = units.get(person_id, 0) + quantity
        refs.add(claim_ref)
        order_nos.append(order_ref)
    keys = (
        Order.objects.filter(order_no__in=order_nos)
        .exclude(idempotency_key="")
        .values_list("idempotency_key", flat=True)
    )
    return SaleFigures(
        quantity=sale.quantity,
        per_user_limit=sale.per_user_limit,
        ends_at=sale.ends_at,
        closed=sale.status != FlashSaleStatus.RUNNING,
        units_by_person=units,
        settled_refs=frozenset(refs),
        idempotency_keys=frozenset(keys),
    )


def gate_load(flash_sale_id: int) -> None:
    """Put a sale in Redis (or re-derive it there) from the database; nothing without Redis."""
    engine = flash_engine()
    if engine is None:
        return
    sale = FlashSale.objects.get(pk=flash_sale_id)
    engine.rederive(flash_sale_id=sale.pk, figures=sale_figures(sale))


def gate_reserve(
    engine: FlashRedis,
    *,
    sale: FlashSale,
    person: Person,
    quantity: int,
    claim_ref: str,
    idempotency_key: str = "",
    check_key: bool = True,
) -> bool:
    """Reserve the units at the gate under `claim_ref`, or refuse with the sale's error.

    Returns False, having taken nothing, when `check_key` and the key reserved here before:
    the caller looks for that key's order, then asks again with `check_key=False`.
    """
    for _attempt in range(2):
        result = engine.reserve(
            flash_sale_id=sale.pk,
            person_id=person.pk,
            quantity=quantity,
            claim_ref=claim_ref,
            now=clock.now(),
            idempotency_key=idempotency_key,
            check_key=check_key,
        )
        if result == NOT_LOADED:
            gate_load(sale.pk)  # first buyer after a Redis restart: rebuild from the database
            continue
        if result == MAYBE_REPLAY:
            return False
        if result == SOLD_OUT:
            raise FlashSaleSoldOut(detail={"flash_sale_id": sale.pk, "remaining": 0})
        if result == LIMIT_EXCEEDED:
            raise FlashSaleLimitExceeded(
                f"每人限购 {sale.per_user_limit} 件",
                detail={"per_user_limit": sale.per_user_limit},
            )
        if result == CLOSED:
            raise FlashSaleNotOpen(detail={"flash_sale_id": sale.pk})
        return True
    raise FlashSaleNotOpen("秒杀暂不可用，请稍后再试", detail={"flash_sale_id": sale.pk})


def gate_sold_out(*, flash_sale_id: int, idempotency_key: str) -> bool:
    """True when Redis alone says the sale is sold out for this request (see `sold_out`);
    False without Redis, when it cannot tell, or when it does not answer (the full way then
    decides, and reports an outage as it should)."""
    engine = flash_engine()
    if engine is None:
        return False
    try:
        return engine.sold_out(
            flash_sale_id=flash_sale_id, idempotency_key=idempotency_key, now=clock.now()
        )
    except redis.RedisError:
        logger.warning("flash sale %s: Redis did not answer the sold-out check", flash_sale_id)
        return False


@dataclasses.dataclass
class GateRepairs:
    rolled_back: list[str] = dataclasses.field(default_factory=list)  # pending, never settled
    settled_cleared: list[str] = dataclasses.field(default_factory=list)  # settled, still pending
    rederived: list[int] = dataclasses.field(default_factory=list)  # sales whose counters moved


def gate_reconcile(engine: FlashRedis, *, grace: dt.timedelta) -> GateRepairs:
    """Repair the gate from the database (see `services.flash_sale_reconcile`)."""
    report = GateRepairs()
    now = clock.now()
    running = FlashSale.objects.filter(status=FlashSaleStatus.RUNNING).values_list("pk", flat=True)
    for sale_id in sorted(set(engine.sale_ids()) | set(running)):
        sale = FlashSale.objects.filter(pk=sale_id).first()
        if sale is None:
            engine.forget(flash_sale_id=sale_id)
            continue
        pending = engine.pending(flash_sale_id=sale_id)
        old = [claim for claim in pending if claim.reserved_at <= now - grace]
        known = set(
            FlashSaleClaim.objects.filter(
                claim_ref__in=[claim.claim_ref for claim in old]
            ).values_list("claim_ref", flat=True)
        )
        for claim in old:
            if claim.claim_ref in known:
                # Died after the database commit, before removing the pending record.
                engine.settled(flash_sale_id=sale_id, claim_ref=claim.claim_ref)
                report.settled_cleared.append(claim.claim_ref)
            elif engine.rollback(flash_sale_id=sale_id, claim_ref=claim.claim_ref):
                # Died between the Lua reservation and the settlement.
                report.rolled_back.append(claim.claim_ref)
        changed, old_left, new_left = engine.rederive(
            flash_sale_id=sale_id, figures=sale_figures(sale)
        )
        if changed:
            logger.warning(
                "flash sale %s: Redis counters re-derived from the database (left %s -> %s)",
                sale_id,
                old_left,
                new_left,
            )
            report.rederived.append(sale_id)
        if (
            sale.status != FlashSaleStatus.RUNNING
            and sale.ends_at < now - dt.timedelta(days=1)
            and not engine.pending(flash_sale_id=sale_id)
        ):
            engine.forget(flash_sale_id=sale_id)
    return report
