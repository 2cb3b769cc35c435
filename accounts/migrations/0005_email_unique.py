"""One account per verified email address, in any case: the database enforces it, so two
verification links opened at once cannot both verify an address. An unverified address may be on
several accounts (typing one proves nothing, and must not lock its owner out). Where verified
accounts share one, the account verified first keeps it verified and the others' verification is
cleared (their address stays, unverified), rather than the migration failing."""

import django.db.models.functions.text
from django.db import migrations, models


def clear_duplicate_addresses(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    seen: set[str] = set()
    verified = User.objects.exclude(email="").filter(email_verified_at__isnull=False)
    for user_id, address in verified.order_by("email_verified_at", "pk").values_list("pk", "email"):
        folded = address.strip().casefold()
        if folded in seen:
            User.objects.filter(pk=user_id).update(email_verified_at=None)
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
                condition=models.Q(models.Q(("email", ""), _negated=True), ("email_verified_at__isnull", False)),
                name="accounts_user_email_ci_unique",
                violation_error_message="Another account has this email address verified.",
            ),
        ),
    ]
