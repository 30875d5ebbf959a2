"""Typed search attributes the Temporal UI filters on (docs/operations.md)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate, TypedSearchAttributes

ECONSULT_STATUS = SearchAttributeKey.for_keyword("EConsultStatus")
CLINICIAN_ID = SearchAttributeKey.for_keyword("ClinicianId")
REPLY_DUE_AT = SearchAttributeKey.for_datetime("ReplyDueAt")
OVERDUE = SearchAttributeKey.for_bool("Overdue")

ALL = (ECONSULT_STATUS, CLINICIAN_ID, REPLY_DUE_AT, OVERDUE)


def case_attributes(
    status: str, clinician_id: str, reply_due_at: datetime | None, overdue: bool
) -> list[SearchAttributeUpdate[Any]]:
    """Every attribute as the case shows it now: a deadline the case no longer has is unset."""
    return [
        ECONSULT_STATUS.value_set(status),
        CLINICIAN_ID.value_set(clinician_id),
        REPLY_DUE_AT.value_set(reply_due_at) if reply_due_at else REPLY_DUE_AT.value_unset(),
        OVERDUE.value_set(overdue),
    ]


def changed(
    current: TypedSearchAttributes, updates: Sequence[SearchAttributeUpdate[Any]]
) -> list[SearchAttributeUpdate[Any]]:
    """The updates that change what `current` holds (an unset of an absent one changes nothing)."""
    return [update for update in updates if current.get(update.key) != update.value]


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register every attribute."""
    kinds = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "BOOL": "Bool"}
    return [
        flag
        for key in ALL
        for flag in ("--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}")
    ]


if __name__ == "__main__":
    print(" ".join(dev_server_flags()))
