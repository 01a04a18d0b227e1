"""The training back office: community managers write a course with its lessons and quiz
questions on one page; staff without the role are refused; attempts are read-only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from freshloop.core.permissions import Role
from freshloop.groupbuy.training.models import QuizQuestion, TrainingCourse, TrainingLesson
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db
ADD = "admin:groupbuy_trainingcourse_add"


def staff(*roles: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user("staff", *roles))
    return client


def _form(**overrides: str) -> dict[str, str]:
    form = {
        "code": "freshness",
        "title": "生鲜保鲜",
        "summary": "",
        "pass_percent": "80",
        "position": "0",
        "is_published": "on",
        "lessons-TOTAL_FORMS": "1",
        "lessons-INITIAL_FORMS": "0",
        "lessons-0-position": "1",
        "lessons-0-title": "冷藏柜温度",
        "lessons-0-video_url": "",
        "lessons-0-body": "冷藏 0-4℃",
        "questions-TOTAL_FORMS": "1",
        "questions-INITIAL_FORMS": "0",
        "questions-0-position": "1",
        "questions-0-text": "冷藏温度是？",
        "questions-0-choices_text": "0-4℃\n10-15℃",
        "questions-0-correct_choice": "1",
    }
    form.update(overrides)
    return form


class TestTrainingCourseAdmin:
    def test_a_community_manager_writes_a_course_on_one_page(self) -> None:
        response = staff(Role.COMMUNITY_MANAGER).post(reverse(ADD), _form())
        assert response.status_code == 302
        course = TrainingCourse.objects.get(code="freshness")
        assert TrainingLesson.objects.get(course=course).title == "冷藏柜温度"
        assert QuizQuestion.objects.get(course=course).choices == ["0-4℃", "10-15℃"]

    @pytest.mark.parametrize(
        "overrides",
        [
            {"questions-0-correct_choice": "3"},
            {"questions-0-choices_text": "只有一个选项"},
            {"lessons-0-body": ""},
        ],
    )
    def test_a_bad_question_or_an_empty_lesson_is_refused(self, overrides: dict[str, str]) -> None:
        response = staff(Role.COMMUNITY_MANAGER).post(reverse(ADD), _form(**overrides))
        assert response.status_code == 200  # the form again, with the error
        assert not TrainingCourse.objects.exists()

    def test_staff_without_the_role_are_refused(self) -> None:
        assert staff(Role.CUSTOMER_SERVICE).get(reverse(ADD)).status_code == 403

    def test_attempts_are_read_only(self) -> None:
        client = staff(Role.COMMUNITY_MANAGER)
        assert client.get(reverse("admin:groupbuy_quizattempt_changelist")).status_code == 200
        assert client.get(reverse("admin:groupbuy_quizattempt_add")).status_code == 403
