"""Domain events Food features (SPEC FD-1…FD-6) publishes (core.events)."""

from __future__ import annotations
