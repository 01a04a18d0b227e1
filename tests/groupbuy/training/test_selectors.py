"""Leader training reads (GB-1): each leader's own progress; questions without answers."""

from __future__ import annotations

import dataclasses

import pytest

from freshloop.groupbuy.training.errors import CourseNotFound
from freshloop.groupbuy.training.selectors import course_for_leader, courses_for_leader
from freshloop.groupbuy.training.services import lesson_complete, quiz_submit
from tests.groupbuy.factories import make_leader
from tests.groupbuy.training.helpers import make_course, right_answers

pytestmark = pytest.mark.django_db


class TestCoursesForLeader:
    def test_each_leader_sees_their_own_progress(self) -> None:
        a, b, course = make_leader(), make_leader(), make_course(lessons=2)
        make_course("draft", published=False)
        for lesson in course.lessons.all():
            lesson_complete(leader=a, course_code=course.code, lesson_id=lesson.pk)
        quiz_submit(leader=a, course_code=course.code, answers=right_answers(course))
        [mine] = courses_for_leader(leader=a)
        [theirs] = courses_for_leader(leader=b)
        assert (mine.lessons_done, mine.lessons_total, mine.percent) == (2, 2, 100)
        assert (mine.best_score, mine.passed) == (100, True)
        assert (theirs.lessons_done, theirs.best_score, theirs.passed) == (0, None, False)

    def test_a_later_failed_attempt_does_not_undo_a_pass(self) -> None:
        leader, course = make_leader(), make_course()
        for lesson in course.lessons.all():
            lesson_complete(leader=leader, course_code=course.code, lesson_id=lesson.pk)
        quiz_submit(leader=leader, course_code=course.code, answers=right_answers(course))
        quiz_submit(leader=leader, course_code=course.code, answers=[1, 1, 1, 1])
        [row] = courses_for_leader(leader=leader)
        assert (row.best_score, row.passed) == (100, True)
        detail = course_for_leader(leader=leader, code=course.code)
        assert detail.passed
        assert detail.last_attempt is not None
        assert (detail.last_attempt.score_percent, detail.last_attempt.passed) == (0, False)


class TestCourseForLeader:
    def test_questions_carry_no_right_answer(self) -> None:
        leader, course = make_leader(), make_course()
        detail = course_for_leader(leader=leader, code=course.code)
        fields = {f.name for f in dataclasses.fields(detail.questions[0])}
        assert fields == {"number", "text", "choices"}
        assert detail.questions[0].choices == ["顾客姓名", "8 位提货码", "顾客的微信头像"]
        assert not detail.quiz_open

    def test_an_unpublished_course_is_not_found(self) -> None:
        leader = make_leader()
        make_course("draft", published=False)
        with pytest.raises(CourseNotFound):
            course_for_leader(leader=leader, code="draft")
