"""Tables of leader training (GB-1): courses written by operators, their lessons (a video or
text) and a short multiple-choice quiz; each leader's finished lessons and quiz attempts.

A leader's progress rows point at their own `GroupLeader`: every read and write takes the
leader found for the signed-in person, never a bare progress id."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

MAX_CHOICES = 6


class TrainingCourse(models.Model):
    code = models.SlugField("课程代码", max_length=40, unique=True, help_text="出现在链接里")
    title = models.CharField("课程名称", max_length=60)
    summary = models.CharField("简介", max_length=200, blank=True)
    pass_percent = models.PositiveSmallIntegerField(
        "及格线(%)", default=80, help_text="测验答对的比例达到此值即通过"
    )
    position = models.PositiveSmallIntegerField("排序", default=0)
    is_published = models.BooleanField("已发布", default=False, help_text="发布后团长才能看到")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "团长培训课程"
        verbose_name_plural = "团长培训课程"
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pass_percent__gte=1) & Q(pass_percent__lte=100),
                name="groupbuy_course_pass_percent_range",
            )
        ]

    def __str__(self) -> str:
        return self.title


class TrainingLesson(models.Model):
    course = models.ForeignKey(
        TrainingCourse, on_delete=models.CASCADE, related_name="lessons", verbose_name="课程"
    )
    position = models.PositiveSmallIntegerField("序号", default=1)
    title = models.CharField("课时名称", max_length=60)
    video_url = models.URLField("视频地址", max_length=500, blank=True)
    body = models.TextField("图文内容", blank=True)

    class Meta:
        verbose_name = "课时"
        verbose_name_plural = "课时"
        ordering = ["course", "position", "pk"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if not self.video_url and not self.body.strip():
            raise ValidationError("请填写视频地址或图文内容")


class QuizQuestion(models.Model):
    """One multiple-choice question. The choices are one per line; `correct_choice` is the
    1-based number of the right one (it never leaves the server)."""

    course = models.ForeignKey(
        TrainingCourse, on_delete=models.CASCADE, related_name="questions", verbose_name="课程"
    )
    position = models.PositiveSmallIntegerField("序号", default=1)
    text = models.CharField("题目", max_length=200)
    choices_text = models.TextField("选项", help_text=f"每行一个选项，2 到 {MAX_CHOICES} 个")
    correct_choice = models.PositiveSmallIntegerField("正确选项序号", help_text="从 1 开始")

    class Meta:
        verbose_name = "测验题"
        verbose_name_plural = "测验题"
        ordering = ["course", "position", "pk"]

    def __str__(self) -> str:
        return self.text

    @property
    def choices(self) -> list[str]:
        return [line.strip() for line in self.choices_text.splitlines() if line.strip()]

    def clean(self) -> None:
        count = len(self.choices)
        if not 2 <= count <= MAX_CHOICES:
            raise ValidationError({"choices_text": f"选项需要 2 到 {MAX_CHOICES} 个"})
        if not 1 <= (self.correct_choice or 0) <= count:
            raise ValidationError({"correct_choice": f"正确选项序号应在 1 到 {count} 之间"})


class LessonProgress(models.Model):
    """A lesson the leader marked as done (one row per leader and lesson)."""

    leader = models.ForeignKey(
        "groupbuy.GroupLeader",
        on_delete=models.CASCADE,
        related_name="lessons_done",
        verbose_name="团长",
    )
    lesson = models.ForeignKey(
        TrainingLesson, on_delete=models.CASCADE, related_name="+", verbose_name="课时"
    )
    completed_at = models.DateTimeField("完成时间")

    class Meta:
        verbose_name = "学习进度"
        verbose_name_plural = "学习进度"
        constraints = [
            models.UniqueConstraint(fields=["leader", "lesson"], name="groupbuy_lesson_progress")
        ]

    def __str__(self) -> str:
        return f"{self.leader_id} · {self.lesson_id}"


class QuizAttempt(models.Model):
    """One graded submission of a course's quiz (every attempt is kept)."""

    leader = models.ForeignKey(
        "groupbuy.GroupLeader",
        on_delete=models.CASCADE,
        related_name="quiz_attempts",
        verbose_name="团长",
    )
    course = models.ForeignKey(
        TrainingCourse, on_delete=models.CASCADE, related_name="+", verbose_name="课程"
    )
    answers = models.JSONField("作答", default=list, help_text="每题所选的序号（从 1 开始）")
    correct_count = models.PositiveSmallIntegerField("答对题数")
    question_count = models.PositiveSmallIntegerField("题数")
    score_percent = models.PositiveSmallIntegerField("得分(%)")
    passed = models.BooleanField("通过")
    attempted_at = models.DateTimeField("作答时间")

    class Meta:
        verbose_name = "测验记录"
        verbose_name_plural = "测验记录"
        ordering = ["-attempted_at", "-pk"]
        indexes = [models.Index(fields=["leader", "course"], name="groupbuy_quiz_leader_course")]

    def __str__(self) -> str:
        return f"{self.score_percent} 分"
