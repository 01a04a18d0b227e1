"""SCRM on WeCom (SC-1): contacts tied to OneID, SOP journeys, mass messages. Above
intelligence and the data hub; sends through messaging.

Built so far: SOP journeys (`journeys.py` behind `services` / `selectors`): a trigger enrols a
customer in a published journey version, whose steps — wait, condition, coupon, staff task,
tag — run as huey jobs, each exactly once per customer."""
