"""Every module's re-pointing after a OneID merge must survive a crash between the merge's
commit and the handler: a plain (after-commit, in-memory) handler would leave that module's
rows on the merged-away person for good."""

from __future__ import annotations

from django.apps import apps

from freshloop.core import events
from freshloop.identity.events import IdentityMerged, PersonErased


class TestMergeAndErasureHandlersAreDurable:
    def test_no_plain_handler_listens_to_a_merge_or_an_erasure(self) -> None:
        # given every app loaded (each registers its handlers in ready())
        assert apps.ready
        # when the handlers of the two identity facts that move or delete people's rows are read
        for event_type in (IdentityMerged, PersonErased):
            plain = [
                f"{handler.__module__}.{handler.__qualname__}"
                for handler in events._handlers.get(event_type, [])
                # tests subscribe list.append to listen; those are not modules' handlers
                if getattr(handler, "__module__", "").startswith("freshloop.")
            ]
            # then none is plain: each is a durable effect
            assert plain == [], f"{event_type.__name__} has plain handlers: {plain}"

    def test_the_merge_has_durable_handlers_in_the_modules_that_keep_people(self) -> None:
        names = events._durable_handlers.get(IdentityMerged, [])
        for module in ("orders", "membership", "promotions", "messaging", "live", "scrm"):
            assert any(f"freshloop.{module}." in name for name in names), module
