"""The writes of leader training (GB-1): a leader marks a lesson done and submits a quiz,
graded here against the right answers, which never leave the server.

Rules chosen (docs/groupbuy.md, "Leader console"):
- Only active leaders train (the console is theirs); only published courses are found, an
  unpublished one answers like an unknown one.
- Marking a lesson done is idempotent: the first time counts, later taps change nothing.
- The quiz opens once every lesson of the course is done. Every question must be answered.
  The score is the share of right answers, rounded down; the leader passes at the course's
  pass mark. Attempts are unlimited and all kept; the course counts as passed once any
  attempt passed (a later failed attempt does not undo it).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.training.errors import (
    LessonNotFound,
    QuizAnswersInvalid,
    QuizNotOpen,
)
from freshloop.groupbuy.training.models import LessonProgress, QuizAttempt, TrainingLesson
from freshloop.groupbuy.training.selectors import course_published, lessons_left


def lesson_complete(*, leader: GroupLeader, course_code: str, lesson_id: int) -> LessonProgress:
    """Mark one lesson of a published course done for `leader` (idempotent)."""
    course = course_published(code=course_code)
    lesson = TrainingLesson.objects.filter(course=course, pk=lesson_id).first()
    if lesson is None:
        raise LessonNotFound(detail={"lesson_id": lesson_id})
    existing = LessonProgress.objects.filter(leader=leader, lesson=lesson).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return LessonProgress.objects.create(
                leader=leader, lesson=lesson, completed_at=clock.now()
            )
    except IntegrityError:  # the same tap twice at once: the row that won is the answer
        return LessonProgress.objects.get(leader=leader, lesson=lesson)


def quiz_submit(*, leader: GroupLeader, course_code: str, answers: Sequence[object]) -> QuizAttempt:
    """Grade `answers` (the 1-based choice per question, in question order) and keep the
    attempt. Nothing is written when the quiz is not open or an answer is missing or unknown."""
    course = course_published(code=course_code)
    left = lessons_left(leader=leader, course=course)
    if left:
        raise QuizNotOpen(detail={"lessons_left": left})
    questions = list(course.questions.order_by("position", "pk"))
    problems: list[tuple[str, str]] = []
    picked: list[int] = []
    for number, question in enumerate(questions):
        raw = answers[number] if number < len(answers) else None
        choice = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        if choice is None or not 1 <= choice <= len(question.choices):
            problems.append((f"answers.{number}", f"请回答第 {number + 1} 题"))
            continue
        picked.append(choice)
    if len(answers) > len(questions):
        problems.append(("answers", f"本测验共 {len(questions)} 题"))
    if problems or not questions:
        raise QuizAnswersInvalid.for_fields(problems or [("answers", "本课程暂无测验题")])
    correct = sum(
        1
        for question, choice in zip(questions, picked, strict=True)
        if choice == question.correct_choice
    )
    score = correct * 100 // len(questions)
    return QuizAttempt.objects.create(
        leader=leader,
        course=course,
        answers=picked,
        correct_count=correct,
        question_count=len(questions),
        score_percent=score,
        passed=score >= course.pass_percent,
        attempted_at=clock.now(),
    )
