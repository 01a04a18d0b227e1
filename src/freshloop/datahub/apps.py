from django.apps import AppConfig


class DatahubConfig(AppConfig):
    name = "freshloop.datahub"
    label = "datahub"
    verbose_name = "数据中台"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.datahub import (
            recorder,  # noqa: F401  (every domain event lands in the event buffer; merges re-point)
            segment_tasks,  # noqa: F401  (the hourly segment job: djhuey only finds `tasks`)
            tasks,  # noqa: F401  (registers the huey jobs)
        )
