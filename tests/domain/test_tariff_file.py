"""Tariff amounts and the age limit are configuration: dated rows from a file replace the
shipped table."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from domain.copayment import (
    DEFAULT_AGE_LIMITS,
    DEFAULT_TABLE,
    age_limit_on,
    decide_copayment,
    tariff_on,
)
from domain.effects import SettleCopayment
from domain.models import CopaymentStatus
from domain.parties import ExemptionCode, Patient
from domain.working_days import OSLO
from infra.logs import JsonFormatter
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


def age_limit(valid_from: str, limit: int, **extra: Any) -> dict[str, Any]:
    """One age-limit row in the file format."""
    return {
        "valid_from": valid_from,
        "age_limit": limit,
        "source": f"budget {valid_from}",
        "confirmed": True,
    } | extra


def test_without_a_file_the_shipped_table_is_used() -> None:
    assert load_tariffs(None) == DEFAULT_TABLE


def test_a_tariff_file_sets_the_amounts_in_force_from_each_date(tmp_path: Path) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(
        json.dumps(
            rows("2027-07-01", ("185", "305", "241", "361"))
            + rows("2026-07-01", ("175", "295", "231", "351"))
        )
    )

    table = load_tariffs(str(path)).tariffs

    assert tariff_on(date(2027, 6, 30), "2ae", False, table).amount_nok == Decimal("175")
    assert tariff_on(date(2027, 7, 1), "2aek", False, table).amount_nok == Decimal("305")
    assert tariff_on(date(2027, 7, 1), "2aek", True, table).amount_nok == Decimal("361")


def test_a_file_without_age_limit_rows_keeps_the_shipped_age_limit(tmp_path: Path) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(json.dumps(rows("2026-07-01", ("175", "295", "231", "351"))))

    assert load_tariffs(str(path)).age_limits == DEFAULT_AGE_LIMITS


def test_an_age_limit_row_added_to_the_file_changes_the_outcome_from_its_date(
    tmp_path: Path,
) -> None:
    """The operator's edit: one row appended to the same file, no code change."""
    path = tmp_path / "tariffs.json"
    path.write_text(
        json.dumps(
            [
                *rows("2026-07-01", ("175", "295", "231", "351")),
                age_limit("2026-07-01", 16),
                age_limit("2027-01-01", 18),
            ]
        )
    )
    table = load_tariffs(str(path))
    seventeen = Patient(id="p-17", birth_date=date(2009, 6, 1))

    def settle(year: int, month: int, day: int, hour: int) -> SettleCopayment:
        at = datetime(year, month, day, hour, tzinfo=OSLO)
        return SettleCopayment(
            consultation_id="c", patient=seventeen, replied_at=at, clinician_id="hpr-1"
        )

    before = decide_copayment(settle(2026, 12, 31, 23), table)
    from_then = decide_copayment(settle(2027, 1, 1, 0), table)

    assert (age_limit_on(date(2026, 12, 31), table.age_limits), before.status) == (
        16,
        CopaymentStatus.CHARGED,
    )
    assert (from_then.status, from_then.exemption) == (
        CopaymentStatus.EXEMPT,
        ExemptionCode.UNDER_AGE,
    )


def test_two_age_limit_rows_from_the_same_date_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(
        json.dumps(
            [
                *rows("2026-07-01", ("1", "2", "3", "4")),
                age_limit("2027-01-01", 18),
                age_limit("2027-01-01", 17),
            ]
        )
    )

    with pytest.raises(ValueError, match="different date"):
        load_tariffs(str(path))


def test_an_age_limit_row_without_a_source_is_refused(tmp_path: Path) -> None:
    row = age_limit("2027-01-01", 18)
    del row["source"]
    path = tmp_path / "tariffs.json"
    path.write_text(json.dumps([*rows("2026-07-01", ("1", "2", "3", "4")), row]))

    with pytest.raises(ValidationError):
        load_tariffs(str(path))


def test_an_unconfirmed_age_limit_row_is_named_in_the_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(
        json.dumps(
            [
                *rows("2026-07-01", ("175", "295", "231", "351")),
                age_limit("2020-01-01", 16),
                age_limit("2027-01-01", 18, confirmed=False),
            ]
        )
    )

    with caplog.at_level(logging.WARNING, logger="econsult.tariffs"):
        load_tariffs(str(path))

    [warning] = caplog.records
    assert "2027-01-01 age limit" in warning.getMessage()


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
    # The JSON line keeps which file it was and the rows, not only the sentence.
    line = json.loads(JsonFormatter().format(warning))
    assert line["tariffs_file"] == str(path)
    assert line["unconfirmed_rows"]


def test_a_fully_confirmed_table_logs_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tariffs.json"
    path.write_text(json.dumps(rows("2026-07-01", ("175", "295", "231", "351"))))

    with caplog.at_level(logging.WARNING, logger="econsult.tariffs"):
        load_tariffs(str(path))

    assert caplog.records == []
