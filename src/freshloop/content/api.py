"""The HTTP API of Content library (SPEC BM-6) under /api/v1/content: one sub-router per feature, added below in
its own block."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["内容素材库"])


# --- recipes and the content library (FD-4, BM-6) ---

from freshloop.content.library_api import router as library_router  # noqa: E402

router.add_router("", library_router)
