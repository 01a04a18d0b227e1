from __future__ import annotations

from typing import Any

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from freshloop.core.errors import RateLimited
from freshloop.core.net import client_ip
from freshloop.core.operator_login import operator_login_check, operator_login_failed
from freshloop.core.ratelimit import wait_phrase


class OperatorAuthenticationForm(AuthenticationForm):
    """Back-office and console login with brute-force limits (core.operator_login): per IP,
    and on failed passwords per (name, IP) and — much higher — per name.

    The limits are checked before the password, so a locked-out attacker learns nothing
    about whether their guess was right.
    """

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        ip_address = client_ip(self.request) if self.request is not None else None
        try:
            operator_login_check(username=username, ip_address=ip_address)
        except RateLimited as limited:
            _, wait = wait_phrase(limited.retry_after)
            raise ValidationError(
                f"登录尝试过于频繁，请 {wait}后再试", code="rate_limited"
            ) from limited
        try:
            return super().clean()
        except ValidationError as refused:
            if refused.code == "invalid_login":
                operator_login_failed(username=username, ip_address=ip_address)
            raise
