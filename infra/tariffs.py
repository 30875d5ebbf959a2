"""The co-payment tariff table: shipped defaults, or a JSON file named by ECONSULT_TARIFFS_FILE.

Amounts change each 1 July; operations add the new rows to the file and restart the workers,
without a code change. Each row names its source and whether a primary source confirms it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import TypeAdapter

from domain.copayment import DEFAULT_TARIFFS, TariffRate, check_tariff_table, unconfirmed_rows

log = logging.getLogger("econsult.tariffs")

_TABLE = TypeAdapter(tuple[TariffRate, ...])


def load_tariffs(path: str | None) -> tuple[TariffRate, ...]:
    """The table in force; a file that does not parse or misses a row stops the worker at start.

    Rows no primary source confirms are named in one warning for operations; patients see
    amounts only.
    """
    if path:
        table = _TABLE.validate_json(Path(path).read_bytes())
        if not table:
            raise ValueError(f"{path}: the tariff table is empty")
        table = tuple(sorted(table, key=lambda row: (row.valid_from, row.tariff, row.specialist)))
    else:
        table = DEFAULT_TARIFFS
    check_tariff_table(table)
    unconfirmed = unconfirmed_rows(table)
    if unconfirmed:
        log.warning(
            "co-payment tariff rows not confirmed by a primary source: %s",
            ", ".join(unconfirmed),
            extra={"tariffs_file": path or "shipped table", "unconfirmed_rows": unconfirmed},
        )
    return table
