"""The writes of leader training (GB-1): an operator creates a course (or edits it in the back
office); a leader marks a lesson done and submits a quiz, graded here against the right
answers, which never leave the server.

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

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.training.errors import (
    CourseCodeTaken,
    CourseInvalid,
    LessonNotFound,
    QuizAnswersInvalid,
    QuizNotOpen,
)
from freshloop.groupbuy.training.models import (
    MAX_CHOICES,
    LessonProgress,
    QuizAttempt,
    QuizQuestion,
    TrainingCourse,
    TrainingLesson,
)
from freshloop.groupbuy.training.selectors import course_published, lessons_left

COURSE_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class LessonInput:
    title: str
    body: str = ""
    video_url: str = ""


@dataclass(frozen=True)
class QuestionInput:
    text: str
    choices: Sequence[str]
    correct_choice: int  # from 1


def _lesson_problems(lessons: Sequence[LessonInput]) -> list[tuple[str, str]]:
    if not lessons:
        return [("lessons", "请至少添加一节课")]
    problems: list[tuple[str, str]] = []
    for index, lesson in enumerate(lessons):
        if not 1 <= len(lesson.title.strip()) <= 60:
            problems.append((f"lessons.{index}.title", "请填写课时名称（最多 60 字）"))
        if not lesson.body.strip() and not lesson.video_url:
            problems.append((f"lessons.{index}.body", "请填写视频地址或图文内容"))
        if lesson.video_url and (
            not lesson.video_url.startswith("https://") or len(lesson.video_url) > 500
        ):
            problems.append(
                (f"lessons.{index}.video_url", "视频地址须以 https:// 开头，最多 500 字符")
            )
    return problems


def _question_problems(questions: Sequence[QuestionInput]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for index, question in enumerate(questions):
        if not 1 <= len(question.text.strip()) <= 200:
            problems.append((f"questions.{index}.text", "请填写题目（最多 200 字）"))
        choices = [choice.strip() for choice in question.choices]
        if not 2 <= len(choices) <= MAX_CHOICES or not all(choices):
            problems.append((f"questions.{index}.choices", f"每题 2 到 {MAX_CHOICES} 个选项"))
        elif not 1 <= question.correct_choice <= len(choices):
            problems.append((f"questions.{index}.correct_choice", "正确选项须是其中之一"))
    return problems


@transaction.atomic
def course_create(
    *,
    code: str,
    title: str,
    summary: str = "",
    pass_percent: int = 80,
    lessons: Sequence[LessonInput],
    questions: Sequence[QuestionInput] = (),
    published: bool = False,
    actor: Actor,
) -> TrainingCourse:
    """A course with its lessons (in order) and its quiz, all or nothing; unpublished unless
    asked (leaders see published courses only)."""
    problems: list[tuple[str, str]] = []
    if not COURSE_CODE.fullmatch(code):
        problems.append(("code", "课程代码为小写字母、数字和连字符，最多 40 位"))
    if not 1 <= len(title.strip()) <= 60:
        problems.append(("title", "请填写课程名称（最多 60 字）"))
    if len(summary) > 200:
        problems.append(("summary", "简介最多 200 字"))
    if not 1 <= pass_percent <= 100:
        problems.append(("pass_percent", "及格线须在 1 到 100 之间"))
    problems += _lesson_problems(lessons) + _question_problems(questions)
    if problems:
        raise CourseInvalid.for_fields(problems)
    try:
        with transaction.atomic():  # the unique code decides between two at once
            course = TrainingCourse.objects.create(
                code=code,
                title=title.strip(),
                summary=summary.strip(),
                pass_percent=pass_percent,
                is_published=published,
            )
    except IntegrityError:
        raise CourseCodeTaken(detail={"code": code}) from None
    TrainingLesson.objects.bulk_create(
        TrainingLesson(
            course=course,
            position=position,
            title=lesson.title.strip(),
            body=lesson.body.strip(),
            video_url=lesson.video_url,
        )
        for position, lesson in enumerate(lessons, start=1)
    )
    QuizQuestion.objects.bulk_create(
        QuizQuestion(
            course=course,
            position=position,
            text=question.text.strip(),
            choices_text="\n".join(choice.strip() for choice in question.choices),
            correct_choice=question.correct_choice,
        )
        for position, question in enumerate(questions, start=1)
    )
    audit_record(
        actor=actor,
        action="groupbuy.training.course_create",
        target=course,
        after={
            "code": code,
            "lessons": len(lessons),
            "questions": len(questions),
            "published": published,
        },
    )
    return course


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
