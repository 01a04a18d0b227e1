"""Roles (Django groups) and object-level access checks.

A role is a Django group with a fixed name. Module-wide permissions come from the group; which
*objects* a user may touch is decided by per-model rules registered here, e.g. a group leader
only sees their own group's orders. Admins (superusers or the admin role) pass every check.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from fnmatch import fnmatch
from typing import Any

from django.contrib.auth.models import AbstractUser, AnonymousUser, Group, Permission
from django.db import models, transaction

from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput, NotAuthenticated, NotFound, PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    LIVE_HOST = "live_host"
    COMMUNITY_MANAGER = "community_manager"
    CUSTOMER_SERVICE = "customer_service"
    SUPPLY_CHAIN = "supply_chain"
    GROUP_LEADER = "group_leader"


ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "管理员",
    Role.MARKETER: "营销",
    Role.LIVE_HOST: "主播",
    Role.COMMUNITY_MANAGER: "社群运营",
    Role.CUSTOMER_SERVICE: "客服",
    Role.SUPPLY_CHAIN: "供应链",
    Role.GROUP_LEADER: "团长",
}

# What each role may do in the back office, as "app_label.codename" glob patterns. Object-level
# scoping (a group leader sees only their group) is on top of this, via register_object_rule.
ROLE_GRANTS: dict[Role, list[str]] = {
    Role.ADMIN: ["*"],
    Role.MARKETER: [
        "catalog.view_*",
        "identity.view_person",
        "promotions.*",
        "membership.*",
        "orders.view_order",
        "orders.*_shippingrule",
        "live.view_*",
        "datahub.*_acquisitionspend",
    ],
    Role.LIVE_HOST: ["catalog.view_*", "inventory.view_stocklevel", "live.view_*"],
    Role.COMMUNITY_MANAGER: ["identity.view_person", "groupbuy.*"],
    Role.CUSTOMER_SERVICE: [
        "identity.view_*",
        "core.view_outboxmessage",
        "orders.*",
        "payments.view_*",
        "membership.view_*",
        "promotions.view_*",
    ],
    Role.SUPPLY_CHAIN: ["catalog.*", "inventory.*", "orders.view_*", "orders.change_order"],
    Role.GROUP_LEADER: [],
}

UserLike = AbstractUser | AnonymousUser
ObjectRule = Callable[[Any, Any], bool]

_object_rules: dict[type[models.Model], ObjectRule] = {}


def roles_ensure() -> list[Group]:
    """Create the role groups and give them exactly their ROLE_GRANTS (idempotent)."""
    all_permissions = list(Permission.objects.select_related("content_type"))
    groups = []
    for role in Role:
        group = Group.objects.get_or_create(name=role.value)[0]
        patterns = ROLE_GRANTS[role]
        granted = [
            permission
            for permission in all_permissions
            if any(
                fnmatch(f"{permission.content_type.app_label}.{permission.codename}", pattern)
                for pattern in patterns
            )
        ]
        group.permissions.set(granted)
        groups.append(group)
    return groups


def user_roles(user: UserLike) -> set[Role]:
    if not user.is_authenticated:
        return set()
    names = set(user.groups.values_list("name", flat=True))
    return {role for role in Role if role.value in names}


def user_is_admin(user: UserLike) -> bool:
    return bool(
        user.is_authenticated
        and (getattr(user, "is_superuser", False) or Role.ADMIN in user_roles(user))
    )


def user_has_role(user: UserLike, *roles: Role) -> bool:
    """True if the user is an admin or holds any of the given roles."""
    return user_is_admin(user) or bool(user_roles(user) & set(roles))


def require_role(user: UserLike, *roles: Role) -> None:
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user_has_role(user, *roles):
        raise PermissionDenied(detail={"required_roles": [role.value for role in roles]})


def register_object_rule(model: type[models.Model], rule: ObjectRule) -> None:
    """Declare who may access instances of `model`: `rule(user, obj) -> bool`."""
    _object_rules[model] = rule


def can_access_object(user: UserLike, obj: models.Model) -> bool:
    """Admins see everything; otherwise the model's rule decides, and no rule means no access."""
    if not user.is_authenticated:
        return False
    if user_is_admin(user):
        return True
    rule = _object_rules.get(type(obj))
    return bool(rule and rule(user, obj))


def require_object_access(user: UserLike, obj: models.Model) -> None:
    """Raise 404 rather than 403 so a user cannot probe which ids exist outside their scope."""
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not can_access_object(user, obj):
        raise NotFound()


@transaction.atomic
def user_role_assign(*, actor: Actor, user: AbstractUser, role: Role, granted: bool = True) -> None:
    """Grant or revoke a role; audited because it changes permissions."""
    if not isinstance(role, Role):
        raise InvalidInput("未知角色", detail={"role": str(role)})
    group = Group.objects.get_or_create(name=role.value)[0]
    before = sorted(r.value for r in user_roles(user))
    if granted:
        user.groups.add(group)
    else:
        user.groups.remove(group)
    after = sorted(r.value for r in user_roles(user))
    if before != after:
        audit_record(
            actor=actor,
            action="role.grant" if granted else "role.revoke",
            target=user,
            before={"roles": before},
            after={"roles": after},
        )
