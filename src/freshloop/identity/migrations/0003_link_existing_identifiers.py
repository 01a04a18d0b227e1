"""Data migration: people created before links existed get their identifiers linked, so the
partition (which only trusts links) keeps them whole."""

from django.db import migrations


def link_identifiers_of_each_person(apps, schema_editor):
    Identifier = apps.get_model("identity", "Identifier")
    IdentifierLink = apps.get_model("identity", "IdentifierLink")
    by_person = {}
    for identifier_id, person_id, created_at in Identifier.objects.order_by("pk").values_list(
        "pk", "person_id", "created_at"
    ):
        by_person.setdefault(person_id, []).append((identifier_id, created_at))
    links = []
    for members in by_person.values():
        hub_id, hub_created = members[0]
        for other_id, _ in members[1:]:
            left, right = sorted((hub_id, other_id))
            links.append(
                IdentifierLink(left_id=left, right_id=right, source="migration", first_seen_at=hub_created)
            )
    IdentifierLink.objects.bulk_create(links, ignore_conflicts=True, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("identity", "0002_oneid_graph")]

    operations = [migrations.RunPython(link_identifiers_of_each_person, migrations.RunPython.noop)]
