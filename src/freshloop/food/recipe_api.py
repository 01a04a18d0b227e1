"""/api/v1/food/recipes: a customer's recipe plan, 一键加购 and recommendations."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema
from pydantic import Field

from freshloop.content.errors import RecipeNotFound
from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.schemas import MAX_ID, Id, InputSchema
from freshloop.food.recipe_cart import (
    PlanLine,
    RecipePlan,
    recipe_add_missing_to_cart,
    recipe_plan,
    recipe_recommendations_for_person,
)
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.orders.errors import CartLimitExceeded

router = Router(tags=["菜谱一键加购"], auth=ConsumerAuth())

RecipeId = Path(..., ge=1, le=MAX_ID, description="菜谱编号")


class PlanLineOut(Schema):
    ingredient: str
    label: str
    texts: list[str]
    sku_id: int | None
    product_name: str | None
    spec: str | None
    price_fen: int | None
    packs: int
    in_cart: int
    at_home: bool
    missing_packs: int


class PlanOut(Schema):
    recipe_id: int
    name: str
    servings: int
    lines: list[PlanLineOut]
    missing_fen: int


class AddMissingIn(InputSchema):
    servings: int | None = Field(None, title="份数", ge=1, le=20)
    at_home_sku_ids: list[Id] | None = Field(None, title="家里有的商品", max_length=100)


class AddedOut(Schema):
    added: list[PlanLineOut]


class RecommendationOut(Schema):
    recipe_id: int
    name: str
    category: str
    uses: list[str]


class RecommendationListOut(Schema):
    items: list[RecommendationOut]


def line_out(line: PlanLine) -> PlanLineOut:
    sku = line.line.sku
    return PlanLineOut(
        ingredient=line.line.ingredient,
        label=line.line.label,
        texts=list(line.line.texts),
        sku_id=sku.pk if sku else None,
        product_name=sku.product.name if sku else None,
        spec=sku.spec if sku else None,
        price_fen=sku.price_fen if sku else None,
        packs=line.line.packs,
        in_cart=line.in_cart,
        at_home=line.at_home,
        missing_packs=line.missing_packs,
    )


def plan_out(plan: RecipePlan) -> PlanOut:
    return PlanOut(
        recipe_id=plan.recipe.pk,
        name=plan.recipe.name,
        servings=plan.servings,
        lines=[line_out(line) for line in plan.lines],
        missing_fen=plan.missing_fen,
    )


@router.get("/recommended", response=RecommendationListOut, summary="按我买过的食材推荐菜谱")
def recipes_recommended(request: HttpRequest) -> RecommendationListOut:
    found = recipe_recommendations_for_person(person=request_person(request))
    return RecommendationListOut(
        items=[
            RecommendationOut(recipe_id=r.pk, name=r.name, category=r.category, uses=uses)
            for r, uses in found
        ]
    )


@router.get(
    "/{recipe_id}/plan", response=PlanOut, summary="菜谱食材：匹配的商品、需要的包数、还缺什么"
)
@raises(RecipeNotFound, InvalidInput)
def recipe_plan_get(
    request: HttpRequest,
    recipe_id: int = RecipeId,
    servings: int | None = Query(None, ge=1, le=20),
) -> PlanOut:
    return plan_out(
        recipe_plan(recipe_id=recipe_id, person=request_person(request), servings=servings)
    )


@router.post(
    "/{recipe_id}/add-missing", response=AddedOut, summary="一键加购：缺的食材按包数加入购物车"
)
@raises(RecipeNotFound, InvalidInput, NotFound, CartLimitExceeded)
def recipe_add_missing(
    request: HttpRequest, body: AddMissingIn, recipe_id: int = RecipeId
) -> AddedOut:
    added = recipe_add_missing_to_cart(
        person=request_person(request),
        recipe_id=recipe_id,
        servings=body.servings,
        at_home_sku_ids=body.at_home_sku_ids,
    )
    return AddedOut(added=[line_out(line) for line in added])
