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

        # Live rooms show the presales launched in them as product cards: web composes the
        # two siblings (live and groupbuy never import each other).
        from freshloop.live.room.selectors import register_room_offer_source
        from freshloop.web.presale_views import presale_room_offers

        register_room_offer_source(presale_room_offers)
