"""The co-payment tariff table: shipped defaults, or a JSON file named by ECONSULT_TARIFFS_FILE.

Amounts change each 1 July; operations add the new row to the file and restart the workers,
without a code change. Each row names its source.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import TypeAdapter

from domain.copayment import DEFAULT_TARIFFS, TariffRate

_TABLE = TypeAdapter(tuple[TariffRate, ...])


def load_tariffs(path: str | None) -> tuple[TariffRate, ...]:
    """The table in force; a file that does not parse stops the worker at start."""
    if not path:
        return DEFAULT_TARIFFS
    table = _TABLE.validate_json(Path(path).read_bytes())
    if not table:
        raise ValueError(f"{path}: the tariff table is empty")
    return tuple(sorted(table, key=lambda row: row.valid_from))
