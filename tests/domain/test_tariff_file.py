"""Tariff amounts are configuration: a dated table from a file replaces the shipped one."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.copayment import DEFAULT_TARIFFS, tariff_on
from infra.tariffs import load_tariffs


def test_without_a_file_the_shipped_table_is_used() -> None:
    assert load_tariffs(None) == DEFAULT_TARIFFS


def test_a_tariff_file_sets_the_amounts_in_force_from_each_date(tmp_path: Path) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(
        json.dumps(
            [
                {
                    "valid_from": "2027-07-01",
                    "day_amount_nok": "185",
                    "evening_amount_nok": "305",
                    "source": "Normaltariffen 2027-2028",
                },
                {
                    "valid_from": "2026-07-01",
                    "day_amount_nok": "175",
                    "evening_amount_nok": "295",
                    "source": "Normaltariffen 2026-2027",
                },
            ]
        )
    )

    table = load_tariffs(str(path))

    assert tariff_on(date(2027, 6, 30), table).day_amount_nok == Decimal("175")
    assert tariff_on(date(2027, 7, 1), table).evening_amount_nok == Decimal("305")


def test_a_tariff_row_without_a_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(
        json.dumps([{"valid_from": "2027-07-01", "day_amount_nok": "1", "evening_amount_nok": "2"}])
    )

    with pytest.raises(ValidationError):
        load_tariffs(str(path))
