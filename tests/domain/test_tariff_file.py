"""Tariff amounts are configuration: a dated table from a file replaces the shipped one."""

from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from domain.copayment import DEFAULT_TARIFFS, tariff_on
from infra.tariffs import load_tariffs


def rows(valid_from: str, amounts: tuple[str, str, str, str], **extra: Any) -> list[dict[str, Any]]:
    """The four rows of one period in the file format."""
    keys = [("2ae", False), ("2aek", False), ("2ae", True), ("2aek", True)]
    return [
        {
            "valid_from": valid_from,
            "tariff": code,
            "specialist": specialist,
            "amount_nok": amount,
            "source": f"Normaltariffen {valid_from}",
            "confirmed": True,
        }
        | extra
        for (code, specialist), amount in zip(keys, amounts, strict=True)
    ]


def test_without_a_file_the_shipped_table_is_used() -> None:
    assert load_tariffs(None) == DEFAULT_TARIFFS


def test_a_tariff_file_sets_the_amounts_in_force_from_each_date(tmp_path: Path) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(
        json.dumps(
            rows("2027-07-01", ("185", "305", "241", "361"))
            + rows("2026-07-01", ("175", "295", "231", "351"))
        )
    )

    table = load_tariffs(str(path))

    assert tariff_on(date(2027, 6, 30), "2ae", False, table).amount_nok == Decimal("175")
    assert tariff_on(date(2027, 7, 1), "2aek", False, table).amount_nok == Decimal("305")
    assert tariff_on(date(2027, 7, 1), "2aek", True, table).amount_nok == Decimal("361")


def test_a_tariff_row_without_a_source_is_refused(tmp_path: Path) -> None:
    table = rows("2027-07-01", ("1", "2", "3", "4"))
    del table[0]["source"]
    path = tmp_path / "tariffs.json"
    path.write_text(json.dumps(table))

    with pytest.raises(ValidationError):
        load_tariffs(str(path))


def test_a_tariff_row_that_does_not_say_whether_it_is_confirmed_is_refused(
    tmp_path: Path,
) -> None:
    table = rows("2027-07-01", ("1", "2", "3", "4"))
    del table[2]["confirmed"]
    path = tmp_path / "tariffs.json"
    path.write_text(json.dumps(table))

    with pytest.raises(ValidationError):
        load_tariffs(str(path))


def test_a_period_without_its_specialist_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(json.dumps(rows("2027-07-01", ("1", "2", "3", "4"))[:2]))

    with pytest.raises(ValueError, match="exactly one per"):
        load_tariffs(str(path))


def test_unconfirmed_rows_are_named_in_one_warning_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(
        json.dumps(
            rows("2026-07-01", ("175", "295", "231", "351"))
            + rows("2027-07-01", ("185", "305", "241", "361"), confirmed=False)
        )
    )

    with caplog.at_level(logging.WARNING, logger="econsult.tariffs"):
        load_tariffs(str(path))

    [warning] = caplog.records
    assert "2027-07-01 2ae," in warning.getMessage()
    assert "2027-07-01 2aek specialist" in warning.getMessage()
    assert "2026-07-01" not in warning.getMessage()


def test_a_fully_confirmed_table_logs_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(json.dumps(rows("2026-07-01", ("175", "295", "231", "351"))))

    with caplog.at_level(logging.WARNING, logger="econsult.tariffs"):
        load_tariffs(str(path))

    assert caplog.records == []
