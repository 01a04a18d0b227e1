"""/api/v1/content: the content library and the recipe library, for operators.

Marketers write; everyone who sells with materials (live hosts, community managers, group
leaders, customer service) reads.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from freshloop.content import selectors, services
from freshloop.content.errors import (
    ContentItemInvalid,
    ContentItemNotFound,
    RecipeInvalid,
    RecipeNotFound,
)
from freshloop.content.models import ContentItem, Recipe
from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.errors import PermissionDenied
from freshloop.core.images import ImageRejected
from freshloop.core.permissions import Role, user_has_role
from freshloop.core.schemas import MAX_ID, InputSchema

READERS = (
    Role.MARKETER,
    Role.LIVE_HOST,
    Role.COMMUNITY_MANAGER,
    Role.GROUP_LEADER,
    Role.CUSTOMER_SERVICE,
)
router = Router(tags=["内容素材库"], auth=OperatorAuth(*READERS))

ItemId = Path(..., ge=1, le=MAX_ID, description="素材编号")
RecipeId = Path(..., ge=1, le=MAX_ID, description="菜谱编号")


def _require_writer(request: HttpRequest) -> None:
    user = request.user
    if not (user.is_superuser or user_has_role(user, Role.MARKETER)):
        raise PermissionDenied("只有营销人员可以编辑素材库")


class ContentItemOut(Schema):
    id: int
    kind: str
    kind_label: str
    title: str
    body: str
    video_url: str
    image_url: str | None
    recipe_id: int | None
    tags: list[str]
    created_by: str
    created_at: str


class ContentItemListOut(Schema):
    items: list[ContentItemOut]
    tags: list[str]


class ContentItemIn(InputSchema):
    # checked by the service (one Chinese sentence naming the allowed types)
    kind: str = Field(
        ..., title="素材类型", max_length=16, description="copy / video / trace_media / poster"
    )
    title: str = Field(..., title="标题", min_length=1, max_length=100)
    body: str = Field("", title="文案", max_length=5000)
    video_url: str = Field("", title="视频地址", max_length=500)
    tags: list[str] = Field(default_factory=list, title="标签", max_length=10)


class RecipeLineOut(Schema):
    text: str
    ingredient: str
    quantity: str | None
    unit: str


class RecipeOut(Schema):
    id: int
    name: str
    category: str
    source: str
    servings: int
    difficulty: int
    description: str
    steps: list[str]
    ingredients: list[RecipeLineOut]


class RecipeSummaryOut(Schema):
    id: int
    name: str
    category: str
    source: str


class RecipeListOut(Schema):
    items: list[RecipeSummaryOut]


class RecipeIn(InputSchema):
    name: str = Field(..., title="菜名", min_length=1, max_length=100)
    category: str = Field("", title="分类", max_length=32)
    servings: int = Field(1, title="份数", ge=1, le=20)
    description: str = Field("", title="简介", max_length=5000)
    ingredient_lines: list[str] = Field(..., title="食材", min_length=1, max_length=60)
    steps: list[str] = Field(default_factory=list, title="步骤", max_length=50)


class MatchLineOut(Schema):
    ingredient: str
    texts: list[str]
    sku_id: int | None
    sku_code: str | None
    product_name: str | None
    spec: str | None
    packs: int


class RecipeMatchOut(Schema):
    recipe_id: int
    servings: int
    lines: list[MatchLineOut]


def item_out(item: ContentItem) -> ContentItemOut:
    from django.core.files.storage import default_storage

    return ContentItemOut(
        id=item.pk,
        kind=item.kind,
        kind_label=item.get_kind_display(),
        title=item.title,
        body=item.body,
        video_url=item.video_url,
        image_url=default_storage.url(item.image_webp_1080) if item.image_webp_1080 else None,
        recipe_id=item.recipe_id,
        tags=[t.name for t in item.tags.all()],
        created_by=item.created_by,
        created_at=item.created_at.isoformat(),
    )


def recipe_out(recipe: Recipe) -> RecipeOut:
    return RecipeOut(
        id=recipe.pk,
        name=recipe.name,
        category=recipe.category,
        source=recipe.source,
        servings=recipe.servings,
        difficulty=recipe.difficulty,
        description=recipe.description,
        steps=[str(s) for s in recipe.steps],
        ingredients=[
            RecipeLineOut(
                text=line.text,
                ingredient=line.ingredient,
                quantity=None if line.quantity is None else str(line.quantity),
                unit=line.unit,
            )
            for line in recipe.ingredients.all()
        ],
    )


@router.get("/items", response=ContentItemListOut, summary="素材列表（按类型、标签、关键词筛选）")
def content_items(
    request: HttpRequest,
    kind: str = Query(
        "", max_length=16, description="poster / copy / video / recipe / trace_media"
    ),
    tag: str = Query("", max_length=32),
    q: str = Query("", max_length=50),
) -> ContentItemListOut:
    items = selectors.content_items_list(kind=kind, tag=tag, query=q)[:200]
    return ContentItemListOut(
        items=[item_out(i) for i in items], tags=[name for name, _ in selectors.content_tags()]
    )


@router.post("/items", response={201: ContentItemOut}, summary="新建素材（文案、视频、溯源素材）")
@raises(ContentItemInvalid, PermissionDenied, ImageRejected)
def content_item_create(request: HttpRequest, body: ContentItemIn) -> Status[ContentItemOut]:
    _require_writer(request)
    item = services.content_item_create(
        kind=body.kind,
        title=body.title,
        body=body.body,
        video_url=body.video_url,
        tags=body.tags,
        actor=request_actor(request),
    )
    return Status(201, item_out(item))


@router.get("/items/{item_id}", response=ContentItemOut, summary="素材详情")
@raises(ContentItemNotFound)
def content_item_detail(request: HttpRequest, item_id: int = ItemId) -> ContentItemOut:
    return item_out(selectors.content_item_get(item_id=item_id))


@router.post("/items/{item_id}/archive", response=ContentItemOut, summary="归档素材")
@raises(ContentItemNotFound, PermissionDenied)
def content_item_archive(request: HttpRequest, item_id: int = ItemId) -> ContentItemOut:
    _require_writer(request)
    return item_out(services.content_item_archive(item_id=item_id, actor=request_actor(request)))


@router.get("/recipes", response=RecipeListOut, summary="菜谱列表")
def recipes(
    request: HttpRequest,
    category: str = Query("", max_length=32),
    q: str = Query("", max_length=50),
    ingredient: str = Query("", max_length=32),
) -> RecipeListOut:
    found = selectors.recipe_list(category=category, query=q, ingredient=ingredient)[:500]
    return RecipeListOut(
        items=[
            RecipeSummaryOut(id=r.pk, name=r.name, category=r.category, source=r.source)
            for r in found
        ]
    )


@router.post("/recipes", response={201: RecipeOut}, summary="新建自有菜谱")
@raises(RecipeInvalid, PermissionDenied)
def recipe_create(request: HttpRequest, body: RecipeIn) -> Status[RecipeOut]:
    _require_writer(request)
    with transaction.atomic():
        recipe = services.recipe_create(
            name=body.name,
            category=body.category,
            servings=body.servings,
            description=body.description,
            ingredient_lines=body.ingredient_lines,
            steps=body.steps,
            actor=request_actor(request),
        )
    return Status(201, recipe_out(recipe))


@router.get("/recipes/{recipe_id}", response=RecipeOut, summary="菜谱详情（含食材解析）")
@raises(RecipeNotFound)
def recipe_detail(request: HttpRequest, recipe_id: int = RecipeId) -> RecipeOut:
    return recipe_out(selectors.recipe_get(recipe_id=recipe_id))


@router.get(
    "/recipes/{recipe_id}/match", response=RecipeMatchOut, summary="菜谱食材匹配的商品与包数"
)
@raises(RecipeNotFound)
def recipe_match(
    request: HttpRequest,
    recipe_id: int = RecipeId,
    servings: int | None = Query(None, ge=1, le=20),
) -> RecipeMatchOut:
    recipe = selectors.recipe_get(recipe_id=recipe_id)
    lines = selectors.recipe_shopping_list(recipe=recipe, servings=servings)
    return RecipeMatchOut(
        recipe_id=recipe.pk,
        servings=servings or recipe.servings,
        lines=[
            MatchLineOut(
                ingredient=line.ingredient,
                texts=list(line.texts),
                sku_id=line.sku.pk if line.sku else None,
                sku_code=line.sku.code if line.sku else None,
                product_name=line.sku.product.name if line.sku else None,
                spec=line.sku.spec if line.sku else None,
                packs=line.packs,
            )
            for line in lines
        ],
    )
