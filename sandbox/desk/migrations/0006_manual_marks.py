# Marks set by hand, kept for the chart (written by hand: Django 5.2's makemigrations output)

import django.db.models.deletion
from django.db import migrations, models

import sandbox.desk.fields


class Migration(migrations.Migration):
    dependencies = [
        ("desk", "0005_liquidation_bands"),
    ]

    operations = [
        migrations.CreateModel(
            name="ManualMark",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("symbol", models.CharField(max_length=20)),
                ("sequence", models.BigIntegerField()),
                ("price", sandbox.desk.fields.ExactDecimalField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "market",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="manual_marks",
                        to="desk.market",
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "indexes": [
                    models.Index(fields=["market", "symbol", "sequence"], name="manual_mark_window")
                ],
            },
        ),
    ]
