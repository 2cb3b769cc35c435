"""One account per email address, in any case: the database enforces what the sign-up and profile
forms check, so two requests at once cannot both take an address. Addresses were used for
nothing before (no verification), so where two accounts share one the oldest keeps it and the
others' are cleared, rather than the migration failing."""

import django.db.models.functions.text
from django.db import migrations, models


def clear_duplicate_addresses(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    seen: set[str] = set()
    for user_id, address in User.objects.exclude(email="").order_by("date_joined", "pk").values_list("pk", "email"):
        folded = address.strip().casefold()
        if folded in seen:
            User.objects.filter(pk=user_id).update(email="", email_verified_at=None)
        seen.add(folded)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_email"),
    ]

    operations = [
        migrations.RunPython(clear_duplicate_addresses, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("email"),
                condition=models.Q(("email", ""), _negated=True),
                name="accounts_user_email_ci_unique",
                violation_error_message="Another account already uses this email address.",
            ),
        ),
    ]
