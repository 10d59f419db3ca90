"""Each position carries its account's market, and the tick's indexes start with it."""

import django.db.models.deletion
from django.db import migrations, models

OLD_INDEXES = (
    "liq_index",
    "trigger_below_index",
    "trigger_above_index",
    "band_low_index",
    "band_high_index",
)


class Migration(migrations.Migration):
    dependencies = [
        ("desk", "0007_market_closed_reduce_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="position",
            name="market",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="positions",
                to="desk.market",
            ),
        ),
        migrations.RunSQL(
            "UPDATE desk_position SET market_id = (SELECT market_id FROM desk_paperaccount"
            " WHERE desk_paperaccount.id = desk_position.account_id)",
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="position",
            name="market",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="positions",
                to="desk.market",
            ),
        ),
        *(migrations.RemoveIndex(model_name="position", name=old) for old in OLD_INDEXES),
        migrations.AddIndex(
            model_name="position",
            index=models.Index(
                fields=["market", "instrument", "is_long", "liquidation_key"],
                name="position_liquidation",
            ),
        ),
        migrations.AddIndex(
            model_name="position",
            index=models.Index(
                fields=["market", "instrument", "trigger_below_key"], name="position_below"
            ),
        ),
        migrations.AddIndex(
            model_name="position",
            index=models.Index(
                fields=["market", "instrument", "trigger_above_key"], name="position_above"
            ),
        ),
        migrations.AddIndex(
            model_name="position",
            index=models.Index(
                fields=["market", "instrument", "band_low_key"], name="position_band_low"
            ),
        ),
        migrations.AddIndex(
            model_name="position",
            index=models.Index(
                fields=["market", "instrument", "band_high_key"], name="position_band_high"
            ),
        ),
    ]
