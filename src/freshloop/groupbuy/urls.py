"""The operator console of community group buying, mounted at /console/groupbuy/."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.groupbuy import console_money_views as money
from freshloop.groupbuy import console_views as views

urlpatterns: list[URLPattern] = [
    path("", views.overview, name="groupbuy-console"),
    path("leaders/", views.leader_list, name="groupbuy-console-leaders"),
    path(
        "leaders/<str:leader_no>/<str:action>",
        views.leader_act,
        name="groupbuy-console-leader-act",
    ),
    path("deals/", views.deal_list, name="groupbuy-console-deals"),
    path("deals/<str:deal_no>", views.deal_detail, name="groupbuy-console-deal"),
    path("deals/<str:deal_no>/end", views.deal_end_view, name="groupbuy-console-deal-end"),
    path("presales/", money.presale_list, name="groupbuy-console-presales"),
    path(
        "presales/<str:presale_no>/cancel",
        money.presale_cancel_view,
        name="groupbuy-console-presale-cancel",
    ),
    path("runs/", money.run_list, name="groupbuy-console-runs"),
    path("runs/new", money.run_create_view, name="groupbuy-console-run-create"),
    path("runs/<str:run_no>", money.run_detail, name="groupbuy-console-run"),
    path("runs/<str:run_no>/<str:action>", money.run_act, name="groupbuy-console-run-act"),
    path(
        "statements/<str:statement_no>/paid",
        money.statement_paid_view,
        name="groupbuy-console-statement-paid",
    ),
]
