"""The demo's community seed: 林's two groups synced with their members on OneIDs, a 活码
leading into the first, a welcome template, a weekly topic and a challenge — nothing twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from freshloop.community.models import (
    ChallengeStatus,
    CustomerGroup,
    GroupChallenge,
    GroupMember,
    JoinCode,
    TopicPrompt,
    WelcomeTemplate,
)
from freshloop.community.services import join_code_current
from freshloop.scrm.models import Journey
from freshloop.web import demo_community, demo_scrm

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def sandbox_directory() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


class TestSeedCommunity:
    def test_groups_code_topic_and_challenge_and_a_second_run_adds_nothing(self) -> None:
        first = demo_community.seed_community()

        assert first == {"groups": 2, "created": 4}
        group = CustomerGroup.objects.get(chat_id=demo_community.FIRST_GROUP)
        assert group.customer_count == 5  # the sandbox's 王阿姨, 李先生 and three more
        assert not GroupMember.objects.filter(member_type="customer", person__isnull=True).exists()
        code = JoinCode.objects.get(name=demo_community.JOIN_CODE_NAME)
        current = join_code_current(join_code=code)
        assert current is not None
        assert current.group == group
        assert group.welcome_template == WelcomeTemplate.objects.get()
        assert TopicPrompt.objects.get().repeat == "weekly"
        assert GroupChallenge.objects.get().status == ChallengeStatus.ACTIVE

        again = demo_community.seed_community()

        assert again == {"groups": 2, "created": 0}
        assert JoinCode.objects.count() == 1
        assert GroupMember.objects.filter(group=group, left_at__isnull=True).count() == 6


class TestInviteInWelcomeJourney:
    def test_the_welcome_message_invites_to_the_join_code_once(self) -> None:
        # given the demo's journeys and community
        demo_scrm.seed_scrm()
        demo_community.seed_community()

        # when the invitation is added, twice
        first = demo_community.invite_in_welcome_journey()
        again = demo_community.invite_in_welcome_journey()

        # then version 2 of the welcome journey's message links to the 活码's page, once
        journey = Journey.objects.get(name=demo_scrm.WELCOME_JOURNEY)
        assert (first, again) == (True, False)
        assert journey.current_version is not None
        assert journey.current_version.number == 2
        (message,) = [s for s in journey.current_version.steps if s["type"] == "message"]
        code = JoinCode.objects.get(name=demo_community.JOIN_CODE_NAME).code
        assert message["invite_url"].endswith(f"/community/join/{code}")
