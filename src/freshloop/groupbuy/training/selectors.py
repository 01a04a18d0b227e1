"""The reads of leader training (GB-1). Every progress read takes the `leader` found for the
signed-in person; courses are found by code among published ones only. The quiz questions
are read without their right answers (`QuizQuestionView`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Q

from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.training.errors import CourseNotFound
from freshloop.groupbuy.training.models import (
    LessonProgress,
    QuizAttempt,
    TrainingCourse,
    TrainingLesson,
)


def course_published(*, code: str) -> TrainingCourse:
    course = TrainingCourse.objects.filter(code=code[:40], is_published=True).first()
    if course is None:
        raise CourseNotFound(detail={"code": code[:40]})
    return course


def lessons_left(*, leader: GroupLeader, course: TrainingCourse) -> int:
    """How many lessons of `course` the leader has not marked done."""
    done = LessonProgress.objects.filter(leader=leader, lesson__course=course).values("lesson")
    return TrainingLesson.objects.filter(course=course).exclude(pk__in=done).count()


@dataclass(frozen=True)
class CourseProgress:
    course: TrainingCourse
    lessons_total: int
    lessons_done: int
    best_score: int | None
    passed: bool

    @property
    def percent(self) -> int:
        return self.lessons_done * 100 // self.lessons_total if self.lessons_total else 0


def courses_for_leader(*, leader: GroupLeader) -> list[CourseProgress]:
    """The published courses with the leader's own progress, in the operators' order."""
    courses = list(
        TrainingCourse.objects.filter(is_published=True)
        .annotate(lessons_total=Count("lessons", distinct=True))
        .order_by("position", "pk")
    )
    done = dict(
        LessonProgress.objects.filter(leader=leader, lesson__course__in=courses)
        .values("lesson__course")
        .annotate(n=Count("pk"))
        .values_list("lesson__course", "n")
    )
    scores = {
        row["course"]: row
        for row in QuizAttempt.objects.filter(leader=leader, course__in=courses)
        .values("course")
        .annotate(best=Max("score_percent"), passes=Count("pk", filter=Q(passed=True)))
    }
    return [
        CourseProgress(
            course=course,
            lessons_total=course.lessons_total,
            lessons_done=done.get(course.pk, 0),
            best_score=scores[course.pk]["best"] if course.pk in scores else None,
            passed=course.pk in scores and scores[course.pk]["passes"] > 0,
        )
        for course in courses
    ]


@dataclass(frozen=True)
class LessonView:
    lesson: TrainingLesson
    done: bool


@dataclass(frozen=True)
class QuizQuestionView:
    """A question as the leader sees it: text and choices, not the right answer."""

    number: int
    text: str
    choices: list[str]


@dataclass(frozen=True)
class AttemptView:
    score_percent: int
    correct_count: int
    question_count: int
    passed: bool
    attempted_at: dt.datetime


@dataclass(frozen=True)
class CourseDetail:
    course: TrainingCourse
    lessons: list[LessonView]
    questions: list[QuizQuestionView]
    quiz_open: bool
    passed: bool
    last_attempt: AttemptView | None


def course_for_leader(*, leader: GroupLeader, code: str) -> CourseDetail:
    """One published course with the leader's own progress and last attempt."""
    course = course_published(code=code)
    lessons = list(course.lessons.order_by("position", "pk"))
    done = set(
        LessonProgress.objects.filter(leader=leader, lesson__in=lessons).values_list(
            "lesson_id", flat=True
        )
    )
    attempts = QuizAttempt.objects.filter(leader=leader, course=course)
    last = attempts.order_by("-attempted_at", "-pk").first()
    return CourseDetail(
        course=course,
        lessons=[LessonView(lesson=lesson, done=lesson.pk in done) for lesson in lessons],
        questions=[
            QuizQuestionView(number=index + 1, text=question.text, choices=question.choices)
            for index, question in enumerate(course.questions.order_by("position", "pk"))
        ],
        quiz_open=all(lesson.pk in done for lesson in lessons),
        passed=attempts.filter(passed=True).exists(),
        last_attempt=AttemptView(
            score_percent=last.score_percent,
            correct_count=last.correct_count,
            question_count=last.question_count,
            passed=last.passed,
            attempted_at=last.attempted_at,
        )
        if last is not None
        else None,
    )
