"""Leader training (GB-1): courses, lessons, quiz questions, progress and quiz attempts."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("groupbuy", "0006_presale_live_session"),
    ]

    operations = [
        migrations.CreateModel(
            name="TrainingCourse",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "code",
                    models.SlugField(
                        help_text="出现在链接里",
                        max_length=40,
                        unique=True,
                        verbose_name="课程代码",
                    ),
                ),
                ("title", models.CharField(max_length=60, verbose_name="课程名称")),
                ("summary", models.CharField(blank=True, max_length=200, verbose_name="简介")),
                (
                    "pass_percent",
                    models.PositiveSmallIntegerField(
                        default=80,
                        help_text="测验答对的比例达到此值即通过",
                        verbose_name="及格线(%)",
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="排序")),
                (
                    "is_published",
                    models.BooleanField(
                        default=False, help_text="发布后团长才能看到", verbose_name="已发布"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="创建时间")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="更新时间")),
            ],
            options={
                "verbose_name": "团长培训课程",
                "verbose_name_plural": "团长培训课程",
                "ordering": ["position", "pk"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("pass_percent__gte", 1), ("pass_percent__lte", 100)),
                        name="groupbuy_course_pass_percent_range",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="QuizQuestion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=1, verbose_name="序号")),
                ("text", models.CharField(max_length=200, verbose_name="题目")),
                (
                    "choices_text",
                    models.TextField(help_text="每行一个选项，2 到 6 个", verbose_name="选项"),
                ),
                (
                    "correct_choice",
                    models.PositiveSmallIntegerField(
                        help_text="从 1 开始", verbose_name="正确选项序号"
                    ),
                ),
                (
                    "course",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="questions",
                        to="groupbuy.trainingcourse",
                        verbose_name="课程",
                    ),
                ),
            ],
            options={
                "verbose_name": "测验题",
                "verbose_name_plural": "测验题",
                "ordering": ["course", "position", "pk"],
            },
        ),
        migrations.CreateModel(
            name="TrainingLesson",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=1, verbose_name="序号")),
                ("title", models.CharField(max_length=60, verbose_name="课时名称")),
                ("video_url", models.URLField(blank=True, max_length=500, verbose_name="视频地址")),
                ("body", models.TextField(blank=True, verbose_name="图文内容")),
                (
                    "course",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lessons",
                        to="groupbuy.trainingcourse",
                        verbose_name="课程",
                    ),
                ),
            ],
            options={
                "verbose_name": "课时",
                "verbose_name_plural": "课时",
                "ordering": ["course", "position", "pk"],
            },
        ),
        migrations.CreateModel(
            name="QuizAttempt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "answers",
                    models.JSONField(
                        default=list, help_text="每题所选的序号（从 1 开始）", verbose_name="作答"
                    ),
                ),
                ("correct_count", models.PositiveSmallIntegerField(verbose_name="答对题数")),
                ("question_count", models.PositiveSmallIntegerField(verbose_name="题数")),
                ("score_percent", models.PositiveSmallIntegerField(verbose_name="得分(%)")),
                ("passed", models.BooleanField(verbose_name="通过")),
                ("attempted_at", models.DateTimeField(verbose_name="作答时间")),
                (
                    "leader",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="quiz_attempts",
                        to="groupbuy.groupleader",
                        verbose_name="团长",
                    ),
                ),
                (
                    "course",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="groupbuy.trainingcourse",
                        verbose_name="课程",
                    ),
                ),
            ],
            options={
                "verbose_name": "测验记录",
                "verbose_name_plural": "测验记录",
                "ordering": ["-attempted_at", "-pk"],
                "indexes": [
                    models.Index(fields=["leader", "course"], name="groupbuy_quiz_leader_course")
                ],
            },
        ),
        migrations.CreateModel(
            name="LessonProgress",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("completed_at", models.DateTimeField(verbose_name="完成时间")),
                (
                    "leader",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lessons_done",
                        to="groupbuy.groupleader",
                        verbose_name="团长",
                    ),
                ),
                (
                    "lesson",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="groupbuy.traininglesson",
                        verbose_name="课时",
                    ),
                ),
            ],
            options={
                "verbose_name": "学习进度",
                "verbose_name_plural": "学习进度",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("leader", "lesson"), name="groupbuy_lesson_progress"
                    )
                ],
            },
        ),
    ]
