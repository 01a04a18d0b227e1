from django.contrib import admin
from django.urls import path

from config.api import api
from freshloop.core.health import healthz
from freshloop.web import views

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("console/", views.console_home, name="console-home"),
    path("console/login/", views.ConsoleLoginView.as_view(), name="console-login"),
    path("console/logout/", views.console_logout, name="console-logout"),
    path("m/", views.h5_home, name="h5-home"),
    path("m/login", views.h5_login, name="h5-login"),
    path("m/auth/wechat/sandbox", views.h5_wechat_sandbox, name="h5-wechat-sandbox"),
    path("m/auth/wechat/callback", views.h5_wechat_callback, name="h5-wechat-callback"),
]

handler400 = "freshloop.web.views.handler400"
handler404 = "freshloop.web.views.handler404"
handler500 = "freshloop.web.views.handler500"
