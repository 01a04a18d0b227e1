"""Tables of the content library (SPEC BM-6). Each feature adds its models in its own block
(one section per feature), so features land without touching each other's."""

from __future__ import annotations

from django.db import models

# --- recipes and the content library (FD-4, BM-6) ---


class ContentKind(models.TextChoices):
    POSTER = "poster", "海报"
    COPY = "copy", "文案"
    VIDEO = "video", "视频"
    RECIPE = "recipe", "菜谱"
    TRACE_MEDIA = "trace_media", "溯源素材"


class ContentTag(models.Model):
    name = models.CharField("标签", max_length=32, unique=True)

    class Meta:
        verbose_name = verbose_name_plural = "素材标签"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Recipe(models.Model):
    """A recipe: imported from a data set (`source` + `source_key` identify it, so a re-import
    updates the row instead of adding one) or written by an operator (`source` = operator)."""

    source = models.CharField("来源", max_length=32, default="operator")
    source_key = models.CharField("来源编号", max_length=200)
    name = models.CharField("菜名", max_length=100)
    category = models.CharField("分类", max_length=32, blank=True)
    difficulty = models.PositiveSmallIntegerField("难度(1-5)", default=1)
    servings = models.PositiveSmallIntegerField("份数", default=1)
    description = models.TextField("简介", blank=True)
    steps = models.JSONField("步骤", default=list, blank=True)
    total_minutes = models.PositiveIntegerField("总用时(分钟)", null=True, blank=True)
    is_published = models.BooleanField("发布", default=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = verbose_name_plural = "菜谱"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_key"], name="recipe_source_key_uniq")
        ]

    def __str__(self) -> str:
        return self.name


class RecipeIngredient(models.Model):
    """One ingredient line as written (`text`) and as understood: the normalised ingredient
    (the key SKUs are matched on) and the quantity per serving in `unit` (None: not given)."""

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="ingredients")
    position = models.PositiveSmallIntegerField("序号")
    text = models.CharField("原文", max_length=300)
    name = models.CharField("名称", max_length=100, blank=True)
    ingredient = models.CharField("标准食材", max_length=32, blank=True, db_index=True)
    quantity = models.DecimalField("每份用量", max_digits=10, decimal_places=2, null=True)
    unit = models.CharField("单位", max_length=8, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "菜谱食材"
        ordering = ["recipe_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipe", "position"], name="recipe_ingredient_pos_uniq"
            )
        ]

    def __str__(self) -> str:
        return self.text


class ContentItem(models.Model):
    """A reusable material of the library: a poster, a piece of copy, a video, a recipe (linked)
    or traceability media, tagged so live sessions, journeys and group leaders can find it."""

    kind = models.CharField("类型", max_length=16, choices=ContentKind.choices)
    title = models.CharField("标题", max_length=100)
    body = models.TextField("文案", blank=True)
    video_url = models.URLField("视频地址", max_length=500, blank=True)
    recipe = models.OneToOneField(
        Recipe, null=True, blank=True, on_delete=models.CASCADE, related_name="content_item"
    )
    tags = models.ManyToManyField(ContentTag, blank=True, related_name="items")
    image_original = models.CharField("原图", max_length=255, blank=True)
    image_webp_400 = models.CharField(max_length=255, blank=True)
    image_webp_1080 = models.CharField(max_length=255, blank=True)
    image_jpeg_1080 = models.CharField(max_length=255, blank=True)
    image_width = models.PositiveIntegerField(default=0)
    image_height = models.PositiveIntegerField(default=0)
    created_by = models.CharField("创建人", max_length=100, blank=True)
    created_at = models.DateTimeField("创建时间")
    is_archived = models.BooleanField("已归档", default=False)

    class Meta:
        verbose_name = verbose_name_plural = "内容素材"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "is_archived"], name="content_item_kind_idx")]

    def __str__(self) -> str:
        return self.title
