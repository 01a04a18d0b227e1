"""The public HTTP API at /api/v1: every module's router mounted on one NinjaAPI."""

from freshloop.core.api import FreshLoopAPI, install_error_handlers
from freshloop.identity.api import me_router, oneid_router
from freshloop.identity.api import router as auth_router
from freshloop.membership.api import router as membership_router
from freshloop.promotions.api import router as promotions_router

api = FreshLoopAPI(
    title="FreshLoop API",
    version="1",
    description="鲜环 FreshLoop 私域运营系统开放接口。错误统一返回 {code, message, detail}；每个接口列出它可能返回的错误码。",
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)
api.add_router("/auth", auth_router)
api.add_router("/me", me_router)
api.add_router("/identity", oneid_router)
api.add_router("/shop", "freshloop.orders.api.router")
api.add_router("/membership", membership_router)
api.add_router("/messaging", "freshloop.messaging.api.router")
api.add_router("/payments", "freshloop.payments.api.router")
api.add_router("/promotions", promotions_router)
api.add_router("", "freshloop.datahub.ingestion.api.router")
api.add_router("/segments", "freshloop.datahub.segments.api.router")
api.add_router("/scrm", "freshloop.scrm.api.router")
api.add_router("/community", "freshloop.community.api.router")
api.add_router("/fulfillment", "freshloop.fulfillment.api.router")
api.add_router("/food", "freshloop.food.api.router")
api.add_router("/groupbuy", "freshloop.groupbuy.api.router")
api.add_router("/content", "freshloop.content.api.router")
api.add_router("/live/host", "freshloop.live.host.api.router")
api.add_router("/live/flash-sales", "freshloop.live.flash_sale.api.router")
# Last: "/live/{code}" must not shadow the more specific live routers above.
api.add_router("/live", "freshloop.live.room.api.router")
