from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from freshloop.core.errors import RateLimited
from freshloop.core.middleware import client_ip
from freshloop.core.ratelimit import rate_limit_hit


class OperatorAuthenticationForm(AuthenticationForm):
    """Back-office and console login with brute-force limits per IP and per username.

    The limit is checked before the password, so a locked-out attacker learns nothing
    about whether their guess was right.
    """

    def clean(self) -> dict[str, Any]:
        config = settings.FRESHLOOP
        username = (self.cleaned_data.get("username") or "").strip().lower()
        ip_address = client_ip(self.request) if self.request is not None else None
        try:
            rate_limit_hit(
                f"operator-login:ip:{ip_address or 'unknown'}",
                limit=config.operator_login_per_ip_per_hour,
                window_seconds=3600,
            )
            if username:
                rate_limit_hit(
                    f"operator-login:user:{username}",
                    limit=config.operator_login_per_user_per_hour,
                    window_seconds=3600,
                )
        except RateLimited as limited:
            minutes = max(1, limited.retry_after // 60)
            raise ValidationError(
                f"登录尝试过于频繁，请 {minutes} 分钟后再试", code="rate_limited"
            ) from limited
        return super().clean()
