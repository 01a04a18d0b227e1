from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "freshloop.inventory"
    label = "inventory"
    verbose_name = "库存与仓库"
    default_auto_field = "django.db.models.BigAutoField"
