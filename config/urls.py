from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponseBase
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from django.views.static import serve as media_serve

from config.api import api
from freshloop.community import activity_views as community_views
from freshloop.core.health import healthz, livez, readyz
from freshloop.live.host import views as live_host_views
from freshloop.live.room import views as live_views
from freshloop.live.streams import views as live_stream_views

# --- pantry (FD-2) ---
from freshloop.web import (
    food_calendar_views,  # --- regional pools and seasonal calendar ---
    near_expiry_views,
    pantry_views,
    shop_views,
    views,
)


def media_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """An uploaded picture from MEDIA_ROOT (read per request: tests move it)."""
    response = media_serve(request, path, document_root=str(settings.MEDIA_ROOT))
    # Every upload gets a new random folder and is never rewritten: cache it for good.
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("livez", livez, name="livez"),
    # Browsers ask for /favicon.ico whatever the page says; point them at the brand icon.
    path("favicon.ico", RedirectView.as_view(url=static("web/favicon.svg"), permanent=True)),
    # The room's event stream is a plain async view (server-sent events), ahead of the API.
    path("api/v1/live/<str:code>/events", live_views.room_events, name="live-events"),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("console/", views.console_home, name="console-home"),
    path("console/home/<str:role>/", views.console_role_home, name="console-role-home"),
    path("console/login/", views.ConsoleLoginView.as_view(), name="console-login"),
    path("console/logout/", views.console_logout, name="console-logout"),
    path("console/data/", include("freshloop.datahub.urls")),
    path("console/intelligence/", include("freshloop.intelligence.urls")),
    path("console/scrm/", include("freshloop.scrm.urls")),
    path("console/community/", include("freshloop.community.urls")),
    path("console/fulfillment/near-expiry/", include(near_expiry_views.urlpatterns)),
    path("console/fulfillment/", include("freshloop.fulfillment.urls")),
    path("console/food/", include("freshloop.food.urls")),
    path("console/groupbuy/", include("freshloop.groupbuy.urls")),  # operator console (GB)
    # --- regional pools and seasonal calendar (FD-5, FD-6) ---
    path(
        "console/food/calendar/templates/<int:template_id>/apply",
        food_calendar_views.template_apply,
        name="food-calendar-apply",
    ),
    path("console/content/", include("freshloop.content.urls")),
    path("trace/", include("freshloop.food.public_urls")),  # the lot page a pack's QR opens
    path("community/", include("freshloop.community.public_urls")),  # the public 活码 page
    path("console/live/<str:code>", live_host_views.host_console, name="live-host-console"),
    path("m/", shop_views.h5_shop_home, name="h5-home"),
    path("m/me", shop_views.h5_me, name="h5-me"),
    path("m/products/<int:product_id>", shop_views.h5_product, name="h5-product"),
    path("m/cart", shop_views.h5_cart, name="h5-cart"),
    path("m/checkout", shop_views.h5_checkout, name="h5-checkout"),
    path("m/orders", shop_views.h5_orders, name="h5-orders"),
    path("m/orders/<str:order_no>", shop_views.h5_order, name="h5-order"),
    path("m/aftersales", shop_views.h5_aftersales, name="h5-aftersales"),
    path("m/coupons", shop_views.h5_coupons, name="h5-coupons"),
    path("m/messages", shop_views.h5_messages, name="h5-messages"),
    path("m/points", shop_views.h5_points, name="h5-points"),
    path("m/checkin", community_views.h5_checkin, name="h5-checkin"),
    path("m/login", views.h5_login, name="h5-login"),
    path("m/auth/wechat/sandbox", views.h5_wechat_sandbox, name="h5-wechat-sandbox"),
    path("m/auth/wechat/callback", views.h5_wechat_callback, name="h5-wechat-callback"),
    path("m/pay/", include("freshloop.payments.urls")),
    path("m/live/", live_views.sessions, name="live-list"),
    path("m/live/<str:code>", live_views.room, name="live-room"),
    path("media/hls/<path:path>", live_stream_views.hls_file, name="live-hls"),
    # Uploaded pictures, served by the app for development and the demo only: production puts a
    # CDN or object storage in front of MEDIA_ROOT (docs/operator-guide.md, 图片存储).
    re_path(r"^media/(?P<path>.*)$", media_file, name="media"),
]

# --- pantry (FD-2) ---
urlpatterns += [
    path("m/pantry", pantry_views.h5_pantry, name="h5-pantry"),
    path(
        "m/pantry/<int:item_id>/reorder", pantry_views.h5_pantry_reorder, name="h5-pantry-reorder"
    ),
]

# --- recipes (FD-4) ---
from freshloop.web import recipe_views  # noqa: E402

urlpatterns += [
    path("m/recipes", recipe_views.h5_recipes, name="h5-recipes"),
    path("m/recipes/<int:recipe_id>", recipe_views.h5_recipe, name="h5-recipe"),
]

handler400 = "freshloop.web.views.handler400"
handler404 = "freshloop.web.views.handler404"
handler500 = "freshloop.web.views.handler500"

# --- smart subscriptions (FD-1) ---
from freshloop.web import subscription_views  # noqa: E402

urlpatterns += [
    path("m/subscriptions", subscription_views.h5_subscriptions, name="h5-subscriptions"),
    path("m/subscriptions/new", subscription_views.h5_subscribe, name="h5-subscribe"),
]

# --- group deals 拼团 (GB-3) ---
from freshloop.web import groupbuy_views  # noqa: E402

urlpatterns += [
    path("m/groupbuy/deals/<str:deal_no>", groupbuy_views.h5_deal, name="h5-groupbuy-deal"),
    path("m/groupbuy/groups/<str:group_no>", groupbuy_views.h5_group, name="h5-groupbuy-group"),
    path("m/groupbuy/me", groupbuy_views.h5_my_groups, name="h5-groupbuy-mine"),
]

# --- presale 预售 (GB-4) ---
from freshloop.web import presale_views  # noqa: E402

urlpatterns += [
    # "me" before the presale number: it is not one.
    path("m/groupbuy/presales/me", presale_views.h5_my_presales, name="h5-presales-mine"),
    path("m/groupbuy/presales/<str:presale_no>", presale_views.h5_presale, name="h5-presale"),
]

# --- the group leader's console 团长工作台 (GB-1) ---
from freshloop.web import leader_views  # noqa: E402

urlpatterns += [
    path("leader/", leader_views.leader_home, name="leader-home"),
    path("leader/apply", leader_views.leader_apply_page, name="leader-apply"),
    path("leader/orders", leader_views.leader_orders, name="leader-orders"),
    path("leader/customers", leader_views.leader_customer_list, name="leader-customers"),
    path("leader/dashboard", leader_views.leader_dashboard, name="leader-dashboard"),
    path("leader/statements", leader_views.leader_statement_list, name="leader-statements"),
    re_path(
        r"^leader/statements/(?P<statement_no>[A-Za-z0-9_-]{1,64})\.(?P<fmt>csv|pdf)$",
        leader_views.leader_statement_download,
        name="leader-statement-download",
    ),
    path("leader/materials", leader_views.leader_materials, name="leader-materials"),
    path(
        "leader/materials/poster.png",
        leader_views.leader_poster_download,
        name="leader-poster-download",
    ),
    path("leader/training", leader_views.leader_training, name="leader-training"),
    path("leader/training/<slug:code>", leader_views.leader_course, name="leader-course"),
    path(
        "leader/training/<slug:code>/lessons/<int:lesson_id>/done",
        leader_views.leader_lesson_done,
        name="leader-lesson-done",
    ),
    path("leader/training/<slug:code>/quiz", leader_views.leader_quiz_submit, name="leader-quiz"),
    path("g/<str:invite_code>", leader_views.invite_landing, name="leader-invite"),
]
