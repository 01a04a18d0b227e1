"""Courses for the training tests, written the way an operator writes them in the back office
(rows of course, lessons and questions)."""

from __future__ import annotations

from freshloop.groupbuy.training.models import QuizQuestion, TrainingCourse, TrainingLesson

QUESTIONS = (
    ("顾客到店取货时，团长应核对什么？", ("顾客姓名", "8 位提货码", "顾客的微信头像"), 2),
    ("顾客的手机号在团长工作台如何显示？", ("完整显示", "中间四位打码"), 2),
    ("生鲜商品到货后应放在哪里？", ("阳光下", "冷藏柜", "门口地上"), 2),
    ("佣金何时可以结算？", ("下单即可", "售后期满后"), 2),
)


def make_course(
    code: str = "pickup-basics",
    *,
    lessons: int = 2,
    questions: int = 4,
    pass_percent: int = 75,
    published: bool = True,
) -> TrainingCourse:
    """A course with `lessons` text lessons (the first one a video) and the first `questions`
    questions of QUESTIONS (every right answer is choice 2)."""
    course = TrainingCourse.objects.create(
        code=code,
        title="自提点入门",
        summary="核销、保鲜与佣金",
        pass_percent=pass_percent,
        is_published=published,
    )
    for position in range(1, lessons + 1):
        TrainingLesson.objects.create(
            course=course,
            position=position,
            title=f"第{position}课",
            video_url="https://example.com/lesson.mp4" if position == 1 else "",
            body=f"课时 {position} 的图文内容",
        )
    for position, (text, choices, right) in enumerate(QUESTIONS[:questions], start=1):
        QuizQuestion.objects.create(
            course=course,
            position=position,
            text=text,
            choices_text="\n".join(choices),
            correct_choice=right,
        )
    return course


def right_answers(course: TrainingCourse) -> list[int]:
    return [q.correct_choice for q in course.questions.order_by("position", "pk")]
