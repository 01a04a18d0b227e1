from importlib import import_module

from django.apps import AppConfig

REGISTERING_MODULES: tuple[str, ...] = (
    "freshloop.community.tasks",  # huey: community.assistant_sweep
    "freshloop.community.subscribers",  # check-ins and messages follow OneID merges, erasure
)
"""Modules imported for what they register (domain-event handlers, jobs). Each feature adds
its own line."""

# Groups, 活码, welcome templates, topics, challenges, health.
REGISTERING_MODULES += (
    "freshloop.community.subscribers",  # WecomGroupChatChanged → members; OrderPaid → challenges
    "freshloop.community.tasks",  # huey: topics_run, topic_results, challenges_check, groups_sync
)


class CommunityConfig(AppConfig):
    name = "freshloop.community"
    label = "community"
    verbose_name = "社群运营"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in REGISTERING_MODULES:
            import_module(module)
