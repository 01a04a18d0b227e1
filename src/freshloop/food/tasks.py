"""Food jobs (one block per feature): they take ids or a day, load, call a service."""

from __future__ import annotations

# --- smart subscriptions (FD-1) ---
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from freshloop.food.subscription_ordering import subscriptions_run
from freshloop.food.subscriptions import local_today


@db_periodic_task(crontab(minute="7,37"), name="food.subscriptions_run")
@lock_task("food.subscriptions_run")
def subscriptions_run_job() -> int:
    """Twice an hour: reminders, due orders, retries — for today's Asia/Shanghai date.
    Harmless to repeat (every write is keyed per subscription and delivery date)."""
    return len(subscriptions_run(today=local_today()).placed)


# --- pantry (FD-2) ---
from freshloop.food.pantry_reminders import pantry_reminders_send  # noqa: E402


@db_periodic_task(crontab(hour="1", minute="30"), name="food.pantry_reminders")
@lock_task("food.pantry_reminders")
def pantry_reminders() -> int:
    """Daily at 09:30 Shanghai (01:30 UTC; outside quiet hours): remind what is due today.
    Rerunning it sends nothing twice (per-item dedupe)."""
    run = pantry_reminders_send()
    return run.messages
