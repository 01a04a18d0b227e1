from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User

from freshloop.core.audit import Actor
from freshloop.core.errors import NotAuthenticated, NotFound, PermissionDenied
from freshloop.core.models import AuditLog
from freshloop.core.permissions import (
    Role,
    can_access_object,
    register_object_rule,
    require_object_access,
    require_role,
    roles_ensure,
    user_has_role,
    user_role_assign,
)
from freshloop.inventory.models import Warehouse
from tests.factories import make_staff_user


@pytest.mark.django_db
class TestRolesEnsure:
    def test_every_role_is_a_group_with_its_grants(self) -> None:
        roles_ensure()
        names = set(Group.objects.values_list("name", flat=True))
        assert {role.value for role in Role} <= names
        supply = Group.objects.get(name="supply_chain")
        codenames = set(supply.permissions.values_list("codename", flat=True))
        assert "change_warehouse" in codenames
        assert "view_sku" in codenames
        assert not Group.objects.get(name="group_leader").permissions.exists()

    def test_idempotent(self) -> None:
        roles_ensure()
        before = Group.objects.get(name="marketer").permissions.count()
        roles_ensure()
        assert Group.objects.get(name="marketer").permissions.count() == before


@pytest.mark.django_db
class TestUserRoleAssign:
    def test_grant_and_revoke_are_audited(self) -> None:
        user = User.objects.create_user(username="li")
        user_role_assign(actor=Actor.system("t"), user=user, role=Role.MARKETER)
        assert user_has_role(user, Role.MARKETER)
        user_role_assign(actor=Actor.system("t"), user=user, role=Role.MARKETER, granted=False)
        assert not user_has_role(user, Role.MARKETER)
        actions = list(
            AuditLog.objects.filter(target_id=str(user.pk)).values_list("action", flat=True)
        )
        assert sorted(actions) == ["role.grant", "role.revoke"]

    def test_granting_twice_writes_one_audit_row(self) -> None:
        user = User.objects.create_user(username="wang")
        user_role_assign(actor=Actor.system("t"), user=user, role=Role.LIVE_HOST)
        user_role_assign(actor=Actor.system("t"), user=user, role=Role.LIVE_HOST)
        assert AuditLog.objects.filter(action="role.grant").count() == 1


@pytest.mark.django_db
class TestRequireRole:
    def test_admin_passes_any_role_check(self) -> None:
        boss = make_staff_user("boss", Role.ADMIN)
        require_role(boss, Role.SUPPLY_CHAIN)

    def test_other_roles_are_refused(self) -> None:
        host = make_staff_user("host", Role.LIVE_HOST)
        with pytest.raises(PermissionDenied):
            require_role(host, Role.SUPPLY_CHAIN)
        with pytest.raises(NotAuthenticated):
            require_role(AnonymousUser(), Role.LIVE_HOST)


@pytest.mark.django_db
class TestObjectAccess:
    def test_rule_scopes_objects_and_hides_others_as_not_found(self) -> None:
        # given a rule: supply-chain staff only see warehouses in their province
        def same_province(user: User, warehouse: Warehouse) -> bool:
            return user_has_role(user, Role.SUPPLY_CHAIN) and warehouse.province == user.last_name

        register_object_rule(Warehouse, same_province)
        shanghai = Warehouse.objects.create(code="sh", name="上海仓", province="上海", city="上海")
        beijing = Warehouse.objects.create(code="bj", name="北京仓", province="北京", city="北京")
        planner = make_staff_user("planner", Role.SUPPLY_CHAIN)
        planner.last_name = "上海"
        # then they reach their own and get a 404 (not 403) for the other
        assert can_access_object(planner, shanghai)
        require_object_access(planner, shanghai)
        with pytest.raises(NotFound):
            require_object_access(planner, beijing)
        # and admins see both, anonymous users see none
        assert can_access_object(make_staff_user("root", superuser=True), beijing)
        assert not can_access_object(AnonymousUser(), shanghai)

    def test_no_rule_means_no_access_for_non_admins(self) -> None:
        marketer = make_staff_user("m", Role.MARKETER)
        group = Group.objects.get(name="marketer")
        assert not can_access_object(marketer, group)
