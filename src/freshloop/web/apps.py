from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "freshloop.web"
    label = "web"
    verbose_name = "页面外壳"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from freshloop.web.forms import OperatorAuthenticationForm

        # The back office shares the console's rate-limited login form.
        admin.site.login_form = OperatorAuthenticationForm
