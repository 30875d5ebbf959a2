"""The co-payment table: shipped defaults, or a JSON file named by ECONSULT_TARIFFS_FILE.

The file is one list of dated rows: tariff rows (amounts change each 1 July) and age-limit
rows (`{"valid_from", "age_limit", "source", "confirmed"}`: the limit changes when a budget
says so). Operations add a row and restart the workers, without a code change. Each row
names its source and whether a primary source confirms it. A file without age-limit rows
keeps the shipped ones (files written before the age limit was data still load).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from pydantic import Discriminator, Tag, TypeAdapter

from domain.copayment import (
    DEFAULT_AGE_LIMITS,
    DEFAULT_TABLE,
    AgeLimit,
    CopaymentTable,
    TariffRate,
    check_age_limits,
    check_tariff_table,
    unconfirmed_rows,
)

log = logging.getLogger("econsult.tariffs")


def _kind(row: Any) -> str:
    fields = row if isinstance(row, dict) else vars(row)
    return "age_limit" if "age_limit" in fields else "tariff"


Row = Annotated[
    Annotated[TariffRate, Tag("tariff")] | Annotated[AgeLimit, Tag("age_limit")],
    Discriminator(_kind),
]
_ROWS = TypeAdapter(tuple[Row, ...])


def load_tariffs(path: str | None) -> CopaymentTable:
    """The table in force; a file that does not parse or misses a row stops the worker at start.

    Rows no primary source confirms are named in one warning for operations; patients see
    amounts only.
    """
    if path:
        rows = _ROWS.validate_json(Path(path).read_bytes())
        tariffs = tuple(
            sorted(
                (row for row in rows if isinstance(row, TariffRate)),
                key=lambda row: (row.valid_from, row.tariff, row.specialist),
            )
        )
        if not tariffs:
            raise ValueError(f"{path}: the tariff table is empty")
        age_limits = tuple(
            sorted(
                (row for row in rows if isinstance(row, AgeLimit)), key=lambda row: row.valid_from
            )
        )
        table = CopaymentTable(tariffs=tariffs, age_limits=age_limits or DEFAULT_AGE_LIMITS)
    else:
        table = DEFAULT_TABLE
    check_tariff_table(table.tariffs)
    check_age_limits(table.age_limits)
    unconfirmed = unconfirmed_rows(table.tariffs, table.age_limits)
    if unconfirmed:
        log.warning(
            "co-payment table rows not confirmed by a primary source: %s",
            ", ".join(unconfirmed),
            extra={"tariffs_file": path or "shipped table", "unconfirmed_rows": unconfirmed},
        )
    return table
