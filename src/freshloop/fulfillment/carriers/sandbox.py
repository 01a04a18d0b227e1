"""The sandbox carrier: offline waybills and labels, and a route it walks demo parcels along
(the periodic `fulfillment.sandbox_carrier_tick` takes one step per tick)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from freshloop.fulfillment.carriers.base import Waybill, WaybillRequest

# A sorting hub between two regions, so the route passes a third city as real parcels do.
HUBS: dict[str, str] = {
    "上海": "上海青浦",
    "江苏": "南京",
    "浙江": "杭州",
    "安徽": "合肥",
    "北京": "北京顺义",
    "天津": "天津",
    "河北": "石家庄",
    "山东": "济南",
    "河南": "郑州",
    "湖北": "武汉",
    "湖南": "长沙",
    "广东": "广州白云",
    "福建": "厦门",
    "四川": "成都双流",
    "重庆": "重庆",
    "陕西": "西安",
}
TRUNK_HUB = "武汉"


def _short(place: str) -> str:
    for suffix in ("特别行政区", "自治区", "省", "市"):
        place = place.removesuffix(suffix)
    return place


def hub_for(province: str) -> str:
    return HUBS.get(_short(province), _short(province) or TRUNK_HUB)


@dataclass(frozen=True)
class RouteStep:
    status: str
    description: str
    location: str


def sandbox_route(
    *,
    carrier_name: str,
    origin_province: str,
    origin_city: str,
    destination_province: str,
    destination_city: str,
) -> list[RouteStep]:
    """The steps after hand-over (the courier's 已揽收), in Chinese as carriers word them:
    through the origin's and the destination's hubs, out for delivery, signed for."""
    origin_hub = hub_for(origin_province)
    destination_hub = hub_for(destination_province)
    destination = _short(destination_city) or destination_hub
    steps = [
        RouteStep(
            "in_transit", f"【{origin_hub}转运中心】{carrier_name}已收入，正在分拣", origin_hub
        )
    ]
    if destination_hub != origin_hub:
        steps += [
            RouteStep(
                "in_transit",
                f"【{origin_hub}转运中心】已发出，下一站【{destination_hub}转运中心】",
                origin_hub,
            ),
            RouteStep(
                "in_transit",
                f"【{destination_hub}转运中心】已到达，正发往【{destination}营业部】",
                destination_hub,
            ),
        ]
    else:
        steps.append(
            RouteStep(
                "in_transit",
                f"【{origin_hub}转运中心】已发出，正发往【{destination}营业部】",
                origin_hub,
            )
        )
    steps += [
        RouteStep(
            "out_for_delivery", f"【{destination}】快递员正在派送，请保持电话畅通", destination
        ),
        RouteStep(
            "delivered",
            f"【{destination}】已签收，签收人：本人。感谢使用{carrier_name}",
            destination,
        ),
    ]
    return steps


class SandboxCarrier:
    """Works offline: the waybill number is derived from the parcel number (asking twice
    gives the same waybill, as a real carrier does for the same order reference)."""

    name = "sandbox"

    def request_waybill(self, request: WaybillRequest) -> Waybill:
        digest = hashlib.sha256(
            f"{request.carrier_code}:{request.shipment_no}".encode()
        ).hexdigest()
        waybill_no = f"SB{int(digest[:15], 16) % 10**12:012d}"
        return Waybill(
            waybill_no=waybill_no,
            label={
                "format": "sandbox-100x150",
                "waybill_no": waybill_no,
                "carrier": request.carrier_code,
                "storage": request.storage,
                "weight_g": request.weight_g,
                "sender": request.sender,
                "receiver": request.receiver,
                "sorting_code": hub_for(request.receiver.get("province", "")),
                "items": request.items,
            },
        )

    def subscribe_tracking(self, *, waybill_no: str, receiver_city: str, callback_url: str) -> None:
        """Nothing to subscribe: the sandbox's own periodic task moves the parcel."""
