"""Domain events Content library (SPEC BM-6) publishes (core.events)."""

from __future__ import annotations
