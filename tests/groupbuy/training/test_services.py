"""Leader training writes (GB-1): creating a course, marking lessons done and the server-graded
quiz."""

from __future__ import annotations

import pytest

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.models import AuditLog
from freshloop.groupbuy.training.errors import (
    CourseCodeTaken,
    CourseInvalid,
    CourseNotFound,
    LessonNotFound,
    QuizAnswersInvalid,
    QuizNotOpen,
)
from freshloop.groupbuy.training.models import LessonProgress, QuizAttempt, TrainingCourse
from freshloop.groupbuy.training.selectors import course_published
from freshloop.groupbuy.training.services import (
    LessonInput,
    QuestionInput,
    course_create,
    lesson_complete,
    quiz_submit,
)
from tests.groupbuy.factories import make_leader
from tests.groupbuy.training.helpers import make_course, right_answers

pytestmark = pytest.mark.django_db


def _all_lessons_done(leader, course) -> None:  # type: ignore[no-untyped-def]
    for lesson in course.lessons.all():
        lesson_complete(leader=leader, course_code=course.code, lesson_id=lesson.pk)


OPERATOR = Actor(type="user", id="3", label="ops-lily")
LESSONS = [
    LessonInput(title="提货码核销", body="顾客出示提货码，输入或扫码核销。"),
    LessonInput(title="冷链保鲜", video_url="https://example.com/cold.mp4"),
]
QUESTIONS = [
    QuestionInput(text="顾客取货时先做什么？", choices=["核销提货码", "直接给货"], correct_choice=1)
]


class TestCourseCreate:
    def test_a_published_course_with_its_lessons_and_quiz_in_order(self) -> None:
        # when an operator creates a published course
        course = course_create(
            code="pickup-101",
            title="自提点入门",
            summary="核销与保鲜",
            pass_percent=100,
            lessons=LESSONS,
            questions=QUESTIONS,
            published=True,
            actor=OPERATOR,
        )

        # then leaders find it, lessons and questions in the order given, and it is audited
        assert course_published(code="pickup-101") == course
        assert [lesson.title for lesson in course.lessons.order_by("position")] == [
            "提货码核销",
            "冷链保鲜",
        ]
        question = course.questions.get()
        assert (question.choices, question.correct_choice) == (["核销提货码", "直接给货"], 1)
        assert AuditLog.objects.filter(action="groupbuy.training.course_create").count() == 1

    def test_an_unpublished_course_is_not_found_by_leaders(self) -> None:
        course_create(code="draft", title="草稿", lessons=LESSONS, actor=OPERATOR)
        with pytest.raises(CourseNotFound):
            course_published(code="draft")

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"code": "Bad Code"}, "code"),
            ({"title": " "}, "title"),
            ({"pass_percent": 0}, "pass_percent"),
            ({"lessons": []}, "lessons"),
            ({"lessons": [LessonInput(title="空课")]}, "lessons.0.body"),
            (
                {"lessons": [LessonInput(title="视频", video_url="http://x.cn/a.mp4")]},
                "lessons.0.video_url",
            ),
            (
                {"lessons": [LessonInput(title="视频", video_url="https://x.cn/" + "a" * 500)]},
                "lessons.0.video_url",
            ),
            (
                {"questions": [QuestionInput(text="题", choices=["只有一个"], correct_choice=1)]},
                "questions.0.choices",
            ),
            (
                {"questions": [QuestionInput(text="题", choices=["甲", "乙"], correct_choice=3)]},
                "questions.0.correct_choice",
            ),
        ],
    )
    def test_each_problem_is_named_and_nothing_is_written(
        self, changes: dict[str, object], field: str
    ) -> None:
        terms: dict[str, object] = {"code": "c1", "title": "课", "lessons": LESSONS} | changes
        with pytest.raises(CourseInvalid) as refused:
            course_create(actor=OPERATOR, **terms)
        assert field in {item["field"] for item in refused.value.detail}
        assert not TrainingCourse.objects.exists()

    def test_a_code_in_use_is_a_conflict(self) -> None:
        course_create(code="c1", title="课", lessons=LESSONS, actor=OPERATOR)
        with pytest.raises(CourseCodeTaken):
            course_create(code="c1", title="另一门", lessons=LESSONS, actor=OPERATOR)
        assert TrainingCourse.objects.count() == 1


class TestLessonComplete:
    def test_marks_the_lesson_done_once(self) -> None:
        leader, course = make_leader(), make_course()
        lesson = course.lessons.first()
        first = lesson_complete(leader=leader, course_code=course.code, lesson_id=lesson.pk)
        again = lesson_complete(leader=leader, course_code=course.code, lesson_id=lesson.pk)
        assert first.pk == again.pk
        assert LessonProgress.objects.filter(leader=leader).count() == 1

    def test_a_lesson_of_another_course_is_not_found(self) -> None:
        leader, course, other = make_leader(), make_course(), make_course("other")
        with pytest.raises(LessonNotFound):
            lesson_complete(
                leader=leader, course_code=course.code, lesson_id=other.lessons.first().pk
            )
        assert not LessonProgress.objects.exists()

    def test_an_unpublished_course_answers_like_an_unknown_one(self) -> None:
        leader, draft = make_leader(), make_course(published=False)
        with pytest.raises(CourseNotFound):
            lesson_complete(
                leader=leader, course_code=draft.code, lesson_id=draft.lessons.first().pk
            )

    def test_progress_belongs_to_the_leader_who_marked_it(self) -> None:
        a, b, course = make_leader(), make_leader(), make_course()
        _all_lessons_done(a, course)
        assert LessonProgress.objects.filter(leader=b).count() == 0
        with pytest.raises(QuizNotOpen):
            quiz_submit(leader=b, course_code=course.code, answers=right_answers(course))


class TestQuizSubmit:
    def test_all_right_passes_with_full_marks(self) -> None:
        leader, course = make_leader(), make_course()
        _all_lessons_done(leader, course)
        attempt = quiz_submit(leader=leader, course_code=course.code, answers=right_answers(course))
        assert (attempt.correct_count, attempt.score_percent, attempt.passed) == (4, 100, True)

    def test_pass_mark_is_inclusive_and_the_score_rounds_down(self) -> None:
        # 3 of 4 = 75 % against a 75 % pass mark passes; 2 of 4 = 50 % fails.
        leader, course = make_leader(), make_course(pass_percent=75)
        _all_lessons_done(leader, course)
        three = quiz_submit(leader=leader, course_code=course.code, answers=[2, 2, 2, 1])
        two = quiz_submit(leader=leader, course_code=course.code, answers=[1, 2, 2, 1])
        assert (three.score_percent, three.passed) == (75, True)
        assert (two.score_percent, two.passed) == (50, False)

    def test_a_third_rounds_down(self) -> None:
        leader, course = make_leader(), make_course(questions=3, pass_percent=34)
        _all_lessons_done(leader, course)
        attempt = quiz_submit(leader=leader, course_code=course.code, answers=[2, 1, 1])
        assert (attempt.score_percent, attempt.passed) == (33, False)

    def test_the_quiz_opens_after_every_lesson(self) -> None:
        leader, course = make_leader(), make_course(lessons=2)
        lesson_complete(leader=leader, course_code=course.code, lesson_id=course.lessons.first().pk)
        with pytest.raises(QuizNotOpen) as refused:
            quiz_submit(leader=leader, course_code=course.code, answers=right_answers(course))
        assert refused.value.detail == {"lessons_left": 1}
        assert not QuizAttempt.objects.exists()

    @pytest.mark.parametrize(
        ("answers", "fields"),
        [
            ([2, 2, 2], ["answers.3"]),
            ([2, 0, 2, 2], ["answers.1"]),
            ([2, 2, 4, 2], ["answers.2"]),
            ([2, 2, 2, True], ["answers.3"]),
            ([2, "2", 2, 2], ["answers.1"]),
            ([2, 2, 2, 2, 2], ["answers"]),
        ],
    )
    def test_every_question_needs_one_of_its_choices(
        self, answers: list[object], fields: list[str]
    ) -> None:
        leader, course = make_leader(), make_course()
        _all_lessons_done(leader, course)
        with pytest.raises(QuizAnswersInvalid) as refused:
            quiz_submit(leader=leader, course_code=course.code, answers=answers)
        assert [problem["field"] for problem in refused.value.detail] == fields
        assert refused.value.status == 422
        assert not QuizAttempt.objects.exists()

    def test_a_course_without_questions_has_no_quiz(self) -> None:
        leader, course = make_leader(), make_course(questions=0)
        _all_lessons_done(leader, course)
        with pytest.raises(DomainError):
            quiz_submit(leader=leader, course_code=course.code, answers=[])
        assert not QuizAttempt.objects.exists()
