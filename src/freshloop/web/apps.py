from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "freshloop.web"
    label = "web"
    verbose_name = "页面外壳"
    default_auto_field = "django.db.models.BigAutoField"
