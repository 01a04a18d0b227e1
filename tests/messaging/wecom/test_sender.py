"""The outbox channel "wecom": a queued payload becomes WeCom's add_msg_template content —
text, link cards, pictures and mini-program cards — sent 1:1 by the named staff member."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from freshloop.core.models import OutboxStatus
from freshloop.core.outbox import outbox_enqueue, outbox_relay
from freshloop.messaging.models import WecomSandboxMessage
from freshloop.messaging.services import wecom_payload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sandbox_directory() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


class TestWecomChannelSender:
    def test_pictures_links_and_mini_program_cards_are_sent_in_order(self) -> None:
        # given a message with every kind of attachment for 王阿姨 from 林
        payload = wecom_payload(
            sender="fl_staff_lin",
            text="周末鲜果",
            links=[{"title": "丹东草莓", "url": "https://shop.example.com/m/products/1?src=bc-1"}],
            images=["https://img.example.com/berry.jpg"],
            miniprograms=[
                {"title": "鲜环", "appid": "wx1234", "page": "pages/index", "pic_media_id": "m1"}
            ],
        )
        message = outbox_enqueue(
            channel="wecom", destination="wm_sandbox_0001", payload=payload, dedupe_key="s1"
        )
        # when the relay sends it
        outbox_relay()
        # then WeCom got the picture, the link and the card, in that order
        message.refresh_from_db()
        assert message.status == OutboxStatus.SENT
        sent = WecomSandboxMessage.objects.get(wecom_id=message.provider_message_id)
        assert (sent.staff_userid, sent.external_userid, sent.text) == (
            "fl_staff_lin",
            "wm_sandbox_0001",
            "周末鲜果",
        )
        assert [a["msgtype"] for a in sent.attachments] == ["image", "link", "miniprogram"]
        assert sent.attachments[0]["image"] == {"pic_url": "https://img.example.com/berry.jpg"}
        assert sent.attachments[2]["miniprogram"]["appid"] == "wx1234"

    def test_a_text_payload_keeps_its_old_shape(self) -> None:
        assert wecom_payload(sender="s", text="t") == {"sender": "s", "text": "t", "links": []}
