"""Warehouses and what they can store. Issue #4 adds stock levels and reservations."""

from __future__ import annotations

from django.db import models

from freshloop.catalog.models import StorageCondition


class Warehouse(models.Model):
    code = models.SlugField("编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)
    province = models.CharField("省份", max_length=32)
    city = models.CharField("城市", max_length=32)
    address = models.CharField("地址", max_length=200, blank=True)
    supports_ambient = models.BooleanField("常温", default=True)
    supports_chilled = models.BooleanField("冷藏", default=False)
    supports_frozen = models.BooleanField("冷冻", default=False)
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "仓库"
        verbose_name_plural = "仓库"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def can_store(self, storage: str) -> bool:
        return {
            StorageCondition.AMBIENT: self.supports_ambient,
            StorageCondition.CHILLED: self.supports_chilled,
            StorageCondition.FROZEN: self.supports_frozen,
        }.get(StorageCondition(storage), False)
