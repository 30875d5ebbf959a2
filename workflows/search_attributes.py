"""Typed search attributes the Temporal UI filters on (docs/operations.md)."""

from temporalio.common import SearchAttributeKey

ECONSULT_STATUS = SearchAttributeKey.for_keyword("EConsultStatus")
CLINICIAN_ID = SearchAttributeKey.for_keyword("ClinicianId")
REPLY_DUE_AT = SearchAttributeKey.for_datetime("ReplyDueAt")
OVERDUE = SearchAttributeKey.for_bool("Overdue")

ALL = (ECONSULT_STATUS, CLINICIAN_ID, REPLY_DUE_AT, OVERDUE)


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
