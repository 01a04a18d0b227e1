"""Key rotation for encrypted PII columns (every EncryptedTextField in every model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection, transaction

from freshloop.core import crypto
from freshloop.core.audit import Actor, audit_record
from freshloop.core.fields import EncryptedTextField


@dataclass(frozen=True)
class RotationReport:
    columns: int
    resealed: int


def _reseal_batch(
    ring: crypto.KeyRing, table: str, column: str, pk: str, after_pk: object, batch_size: int
) -> tuple[int, object | None]:
    """Re-seal one batch of rows with pk > after_pk; returns (re-sealed, last pk or None at the end)."""
    where = f"WHERE {pk} > %s " if after_pk is not None else ""
    params: list[Any] = [after_pk] if after_pk is not None else []
    resealed = 0
    with transaction.atomic(), connection.cursor() as cursor:
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
    last_pk = rows[-1][0] if len(rows) == batch_size else None
    return resealed, last_pk


def pii_rotate(*, actor: Actor, batch_size: int = 500) -> RotationReport:
    """Re-seal every encrypted value whose key id is not the active one.

    Reads raw ciphertext with SQL (the model field would decrypt it), writes back values
    sealed with the active key, one batch per transaction so a live system keeps serving.
    """
    ring = crypto.key_ring()
    quote = connection.ops.quote_name
    columns = resealed = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedTextField):
                continue
            columns += 1
            table, column = quote(model._meta.db_table), quote(field.column)
            pk = quote(model._meta.pk.column)
            after_pk: object | None = None
            while True:
                count, after_pk = _reseal_batch(ring, table, column, pk, after_pk, batch_size)
                resealed += count
                if after_pk is None:
                    break
    audit_record(
        actor=actor,
        action="pii.rotate",
        target_type="core.KeyRing",
        target_id=ring.active_key_id,
        after={"columns": columns, "resealed": resealed},
    )
    return RotationReport(columns=columns, resealed=resealed)
