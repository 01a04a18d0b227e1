"""Row locks of the intelligence module."""

from __future__ import annotations

from freshloop.intelligence.models import ModelVersion, VersionStatus


def kind_versions_lock(kind: str) -> list[ModelVersion]:
    """The active and previous versions of one model kind, in primary-key order: a nightly
    retrain and an operator's rollback of the same kind happen one after the other."""
    return list(
        ModelVersion.objects.select_for_update()
        .filter(kind=kind, status__in=(VersionStatus.ACTIVE, VersionStatus.PREVIOUS))
        .order_by("pk")
    )
