"""Brute-force limits of the operator login (`/admin`, `/console`).

The policy (docs/operator-guide.md, "Operator login limits"):

- every attempt from one IP counts (`operator_login_per_ip_per_hour`, 30): one address cannot
  spray passwords over many names;
- *failed* passwords for one name **from one IP** (`operator_login_per_user_per_hour`, 10) lock
  that name from that IP only — a stranger guessing an operator's password locks themselves
  out, not the operator;
- *failed* passwords for one name from **all** IPs together
  (`operator_login_per_user_all_ips_per_hour`, 100 — far above what one person mistypes) lock
  the name everywhere for the rest of the hour and raise an alert: that is a distributed
  attack, and people must look at it.

The limits are checked before the password, so a refused caller learns nothing about whether
a guess was right; a correct password never uses up an allowance. Names are hashed in the
counter keys (any length, no operator names in Redis).
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from freshloop.core import clock
from freshloop.core.outbox import ALERT_CHANNEL, outbox_enqueue
from freshloop.core.ratelimit import rate_limit_check, rate_limit_hit

HOUR = 3600
_UNLIMITED = 2**31


def _name_key(username: str) -> str:
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


def operator_login_check(*, username: str, ip_address: str | None) -> None:
    """Count this attempt against the IP and refuse it (RateLimited) when any limit is spent."""
    config = settings.FRESHLOOP
    ip = ip_address or "unknown"
    rate_limit_hit(
        f"operator-login:ip:{ip}",
        limit=config.operator_login_per_ip_per_hour,
        window_seconds=HOUR,
    )
    if not username.strip():
        return
    name = _name_key(username)
    rate_limit_check(
        f"operator-login:fail:{name}:{ip}",
        limit=config.operator_login_per_user_per_hour,
        window_seconds=HOUR,
    )
    rate_limit_check(
        f"operator-login:fail:{name}",
        limit=config.operator_login_per_user_all_ips_per_hour,
        window_seconds=HOUR,
    )


def operator_login_failed(*, username: str, ip_address: str | None) -> None:
    """Count a wrong password for the name, from this IP and in all."""
    if not username.strip():
        return
    config = settings.FRESHLOOP
    name = _name_key(username)
    ip = ip_address or "unknown"
    # Counted with a limit never reached: the refusal happens in operator_login_check, before
    # the next attempt's password is looked at.
    rate_limit_hit(f"operator-login:fail:{name}:{ip}", limit=_UNLIMITED, window_seconds=HOUR)
    in_all = rate_limit_hit(f"operator-login:fail:{name}", limit=_UNLIMITED, window_seconds=HOUR)
    if in_all == config.operator_login_per_user_all_ips_per_hour:
        window = int(clock.now().timestamp() // HOUR)
        outbox_enqueue(
            channel=ALERT_CHANNEL,
            payload={
                "kind": "operator_login.name_locked",
                "username": username.strip()[:150],
                "failures": in_all,
                "window_seconds": HOUR,
            },
            dedupe_key=f"operator_login.name_locked:{name}:{window}",
            urgent=True,
        )
