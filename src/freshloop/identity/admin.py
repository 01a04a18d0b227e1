from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from unfold.admin import ModelAdmin, TabularInline

from freshloop.identity.models import Identifier, Person
from freshloop.identity.selectors import identifier_mask


class IdentifierInline(TabularInline):
    model = Identifier
    extra = 0
    fields = ("type", "scope", "masked", "verified", "source", "created_at")
    readonly_fields = fields
    can_delete = False

    @admin.display(description="值(脱敏)")
    def masked(self, obj: Identifier) -> str:
        return identifier_mask(obj)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Person)
class PersonAdmin(ModelAdmin):
    list_display = ("one_id", "display_name", "province", "source", "created_at")
    search_fields = ("one_id", "display_name")
    list_filter = ("source",)
    readonly_fields = ("one_id", "source", "created_at", "updated_at")
    inlines = [IdentifierInline]

    @admin.display(description="省份")
    def province(self, obj: Person) -> str:
        return str(obj.traits.get("province", ""))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # People are created by identification (login, import), never typed in by hand.
        return False
