"""Console pages of the content library and recipe library at /console/content/."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from freshloop.content import selectors, services
from freshloop.content.errors import RecipeNotFound
from freshloop.content.models import ContentKind
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.core.images import MAX_UPLOAD_BYTES
from freshloop.core.permissions import Role

read_access = console_access(
    Role.MARKETER, Role.LIVE_HOST, Role.COMMUNITY_MANAGER, Role.GROUP_LEADER, Role.CUSTOMER_SERVICE
)
write_access = console_access(Role.MARKETER)
PAGE = "/console/content/"


@read_access
def library(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    kind = kind if kind in ContentKind.values else ""
    tag = request.GET.get("tag", "")[:32]
    query = request.GET.get("q", "")[:50]
    items = list(selectors.content_items_list(kind=kind, tag=tag, query=query)[:100])
    thumbs = {i.pk: default_storage.url(i.image_webp_400) for i in items if i.image_webp_400}
    return render(
        request,
        "content/library.html",
        {
            "rows": [(item, thumbs.get(item.pk)) for item in items],
            "tags": selectors.content_tags()[:40],
            "kinds": ContentKind.choices,
            "kind": kind,
            "tag": tag,
            "q": query,
            "creatable": [c for c in ContentKind.choices if c[0] != ContentKind.RECIPE],
        },
    )


@write_access
@require_http_methods(["POST"])
def item_new(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("image")
    # read one byte past the limit, so core.images refuses an oversized file without the rest
    image = upload.read(MAX_UPLOAD_BYTES + 1) if isinstance(upload, UploadedFile) else None
    tags = request.POST.get("tags", "").replace("，", ",").split(",")
    try:
        services.content_item_create(
            kind=request.POST.get("kind", ""),
            title=request.POST.get("title", ""),
            body=request.POST.get("body", ""),
            video_url=request.POST.get("video_url", "").strip(),
            tags=tags,
            image=image or None,
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, "素材已加入素材库")
    return HttpResponseRedirect(PAGE)


@read_access
def recipes(request: HttpRequest) -> HttpResponse:
    category = request.GET.get("category", "")[:32]
    query = request.GET.get("q", "")[:50]
    return render(
        request,
        "content/recipes.html",
        {
            "recipes": selectors.recipe_list(category=category, query=query)[:400],
            "categories": selectors.recipe_categories(),
            "category": category,
            "q": query,
        },
    )


@read_access
def recipe_detail(request: HttpRequest, recipe_id: int) -> HttpResponse:
    try:
        recipe = selectors.recipe_get(recipe_id=recipe_id)
    except RecipeNotFound as error:
        raise Http404(error.text) from error
    lines = selectors.recipe_shopping_list(recipe=recipe)
    return render(request, "content/recipe.html", {"recipe": recipe, "lines": lines})


@write_access
@require_http_methods(["POST"])
def recipe_new(request: HttpRequest) -> HttpResponse:
    try:
        servings = int(request.POST.get("servings") or 1)
    except ValueError:
        servings = 0
    try:
        recipe = services.recipe_create(
            name=request.POST.get("name", ""),
            category=request.POST.get("category", ""),
            servings=servings,
            ingredient_lines=request.POST.get("ingredients", "").splitlines(),
            steps=request.POST.get("steps", "").splitlines(),
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        messages.error(request, error.text)
        return HttpResponseRedirect(f"{PAGE}recipes/")
    messages.success(request, "菜谱已保存")
    return HttpResponseRedirect(f"{PAGE}recipes/{recipe.pk}")
