"""Back-office screens of Content library (SPEC BM-6) (one block per feature)."""

from __future__ import annotations
