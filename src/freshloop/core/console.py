"""The operator console's page gate, shared by every module that serves console pages
(modules may not import `web`, where the console shell lives)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from freshloop.core.permissions import Role, user_has_role

View = Callable[..., HttpResponse]


def console_access(*roles: Role) -> Callable[[View], View]:
    """Logged-in operators holding one of `roles` (or admin / superuser); others get the
    console's 403 page, anonymous visitors the login page."""

    def decorate(view: View) -> View:
        @wraps(view)
        @login_required(login_url="/console/login/")
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not (request.user.is_superuser or user_has_role(request.user, *roles)):
                return render(request, "web/console/forbidden.html", status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
