"""Shared page fragments: built once per lifetime, made stale by a version bump, and never the
reason a page fails when the cache does not answer."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from freshloop.core.fragments import fragment_cached, fragment_version, fragment_version_bump


@pytest.fixture
def page_cache(settings: Any) -> None:
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, page_cache_seconds=60)
    cache.clear()


def _counting_builder(value: Any) -> tuple[list[int], Any]:
    built: list[int] = []

    def build() -> Any:
        built.append(1)
        return value

    return built, build


def test_a_fragment_is_built_once_in_its_lifetime(page_cache: None) -> None:
    built, build = _counting_builder("<div>grid</div>")
    assert fragment_cached("grid", build) == "<div>grid</div>"
    assert fragment_cached("grid", build) == "<div>grid</div>"
    assert len(built) == 1


def test_without_a_lifetime_every_call_builds() -> None:
    assert settings.FRESHLOOP.page_cache_seconds == 0  # the test default
    built, build = _counting_builder("x")
    fragment_cached("grid", build)
    fragment_cached("grid", build)
    assert len(built) == 2


def test_nothing_is_not_kept(page_cache: None) -> None:
    built, build = _counting_builder(None)
    assert fragment_cached("gone", build) is None
    assert fragment_cached("gone", build) is None
    assert len(built) == 2


def test_a_version_bump_moves_every_key_on(page_cache: None) -> None:
    before = fragment_version("catalog")
    fragment_version_bump("catalog")
    fragment_version_bump("catalog")
    assert fragment_version("catalog") == before + 2


def test_a_cache_that_does_not_answer_renders_without_it(
    page_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("cache down")

    for method in ("get", "set", "incr"):
        monkeypatch.setattr(cache, method, refuse)
    built, build = _counting_builder("page")
    assert fragment_cached("grid", build) == "page"
    assert fragment_cached("grid", build) == "page"
    assert len(built) == 2
    assert fragment_version("catalog") == 0
    fragment_version_bump("catalog")  # logged, not raised
