"""Typed errors of leader training (GB-1): a machine code, a Chinese message, an HTTP status."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotFound


class CourseNotFound(NotFound):
    """An unknown course and an unpublished one answer alike."""

    code = "training_course_not_found"
    message = "培训课程不存在或尚未发布"


class LessonNotFound(NotFound):
    """The lesson is not one of this (published) course's lessons."""

    code = "training_lesson_not_found"
    message = "课时不存在"


class QuizNotOpen(Conflict):
    """The quiz opens once every lesson of the course is done; `detail` counts the rest."""

    code = "training_quiz_not_open"
    message = "请先学完全部课时再参加测验"


class QuizAnswersInvalid(InvalidInput):
    """One answer per question, each a choice of that question; field problems in `detail`
    (`answers.<n>` per unanswered or unknown choice)."""

    code = "training_answers_invalid"
    message = "请回答全部题目"


class CourseInvalid(InvalidInput):
    """A course to create with problems; field problems in `detail` (`lessons.<n>.title`,
    `questions.<n>.correct_choice`, …)."""

    code = "training_course_invalid"
    message = "培训课程填写有误"


class CourseCodeTaken(Conflict):
    code = "training_course_code_taken"
    message = "课程代码已被使用"
