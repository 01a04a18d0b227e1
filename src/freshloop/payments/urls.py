"""H5 pages of the payments module, mounted at /m/pay/."""

from django.urls import path

from freshloop.payments import views

urlpatterns = [
    path(
        "contracts/<str:contract_no>",
        views.sandbox_contract_page,
        name="payments-sandbox-contract",
    ),
    path("<str:payment_no>", views.sandbox_pay_page, name="payments-sandbox-pay"),
]
