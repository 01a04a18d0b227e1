from django.apps import AppConfig


class DatahubConfig(AppConfig):
    name = "freshloop.datahub"
    label = "datahub"
    verbose_name = "数据中台"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # djhuey only discovers `<app>.tasks`, and a handler exists once its module is
        # imported: every sub-package's jobs and subscribers are imported here.
        from freshloop.datahub.eventstore import (
            subscribers as eventstore_subscribers,  # noqa: F401  (PIPL erasure scrubs the events)
        )
        from freshloop.datahub.eventstore import (
            tasks,  # noqa: F401  (flush, buffer prune, person map reconcile)
        )
        from freshloop.datahub.ingestion import (
            subscribers,  # noqa: F401  (every domain event lands in the event buffer)
        )
        from freshloop.datahub.segments import (
            subscribers as segment_subscribers,  # noqa: F401  (merged/erased members leave; PIPL export)
        )
        from freshloop.datahub.segments import (
            tasks as segment_tasks,  # noqa: F401  (the hourly materialisation)
        )
        from freshloop.datahub.tags import (
            subscribers as tag_subscribers,  # noqa: F401  (manual tags follow OneID merges)
        )
        from freshloop.datahub.tags import tasks as tag_tasks  # noqa: F401  (nightly recompute)
