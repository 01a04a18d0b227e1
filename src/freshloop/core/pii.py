"""Key rotation for encrypted PII columns (every EncryptedTextField in every model)."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import connection, transaction

from freshloop.core import crypto
from freshloop.core.audit import Actor, audit_record
from freshloop.core.fields import EncryptedTextField


@dataclass(frozen=True)
class RotationReport:
    columns: int
    resealed: int


def pii_rotate(*, actor: Actor, batch_size: int = 500) -> RotationReport:
    """Re-seal every encrypted value whose key id is not the active one.

    Reads raw ciphertext with SQL (the model field would decrypt it), writes back values
    sealed with the active key, one batch per transaction so a live system keeps serving.
    """
    ring = crypto.key_ring()
    columns = resealed = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedTextField):
                continue
            columns += 1
            table = connection.ops.quote_name(model._meta.db_table)
            column = connection.ops.quote_name(field.column)
            pk = connection.ops.quote_name(model._meta.pk.column)  # type: ignore[union-attr]
            last_pk = None
            while True:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        where = f"WHERE {pk} > %s " if last_pk is not None else ""
                        params = [last_pk] if last_pk is not None else []
                        cursor.execute(
                            f"SELECT {pk}, {column} FROM {table} {where}ORDER BY {pk} LIMIT %s",  # noqa: S608 (identifiers quoted by the backend)
                            [*params, batch_size],
                        )
                        rows = cursor.fetchall()
                        for row_pk, sealed in rows:
                            if sealed and ring.needs_rotation(sealed):
                                cursor.execute(
                                    f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                                    [ring.encrypt(ring.decrypt(sealed)), row_pk],
                                )
                                resealed += 1
                if len(rows) < batch_size:
                    break
                last_pk = rows[-1][0]
    audit_record(
        actor=actor,
        action="pii.rotate",
        target_type="core.KeyRing",
        target_id=ring.active_key_id,
        after={"columns": columns, "resealed": resealed},
    )
    return RotationReport(columns=columns, resealed=resealed)
