"""Co-payment (egenandel) rules of docs/copayment.md; pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from domain.models import CopaymentOutcome, CopaymentStatus, Patient, SettleCopayment
from domain.working_days import OSLO, is_public_holiday, oslo_day

DAY_STARTS = time(8, 0)
EVENING_STARTS = time(16, 0)
EXEMPTION_AGE = 16

Amount = Annotated[Decimal, Field(ge=0)]


DAY_TARIFF = "2ae"
EVENING_TARIFF = "2aek"


class TariffRate(BaseModel):
    """Patient co-payment for one tariff code, by a specialist or not, in force from `valid_from`.

    `confirmed` is false for a figure no primary source (Normaltariffen, Helfo) was found for;
    docs/copayment.md lists where each shipped figure comes from.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid_from: date
    tariff: str = Field(min_length=1, max_length=16)
    specialist: bool
    amount_nok: Amount
    source: str = Field(min_length=1)
    confirmed: bool


def tariff_rows(
    valid_from: date,
    amounts: tuple[str, str, str, str],
    source: str,
    *,
    confirmed: bool,
    specialist_confirmed: bool | None = None,
) -> tuple[TariffRate, ...]:
    """The four rows of one period: 2ae, 2aek, 2ae by a specialist, 2aek by a specialist."""
    day, evening, specialist_day, specialist_evening = (Decimal(a) for a in amounts)
    if specialist_confirmed is None:
        specialist_confirmed = confirmed
    return tuple(
        TariffRate(
            valid_from=valid_from,
            tariff=code,
            specialist=specialist,
            amount_nok=amount,
            source=source,
            confirmed=specialist_confirmed if specialist else confirmed,
        )
        for code, specialist, amount in (
            (DAY_TARIFF, False, day),
            (EVENING_TARIFF, False, evening),
            (DAY_TARIFF, True, specialist_day),
            (EVENING_TARIFF, True, specialist_evening),
        )
    )


# Egenandel (patient share) of Normaltariffen takst 2ae (e-konsultasjon, dagtid) and 2aek
# (kveld); the specialist rows add the supplement for a specialist in general practice. See
# docs/copayment.md for the search behind each figure. Only the 2020 non-specialist figures
# come from a primary source; the others are from practices' published price lists, or are
# carried forward where nothing newer was found, and are marked unconfirmed.
_NORMALTARIFFEN_2020 = (
    "Legeforeningen, Normaltariffen (kommentarutgave), kap. B: takst 2ae egenandel 160 kr, "
    "2aek egenandel 280 kr, https://normaltariffen.legeforeningen.no/book/Spesialisttariffen/m-866"
    " (in force from 6 July 2020); specialist 212/332 kr from a practice's price list "
    "valid from 6 July 2020, http://www.helsetlegesenter.no/om-oss/priser/"
)
_PRICE_LISTS_2023 = (
    "Practices' price lists 2023-2024, not Normaltariffen itself: allmennlege 170/288 kr, "
    "spesialist i allmennmedisin 224/342 kr, "
    "http://www.cgmwp03.dk/karrestadlegekontor/egenandeler-2021-2022/ (Egenandeler 2023-24); "
    "170/288 kr unchanged in July 2024, https://leangenlegesenter.no/priser/"
)
_PRICE_LIST_2025 = (
    "A practice's price list valid 1 July 2025 - 30 June 2026, not Normaltariffen itself: "
    "konsultasjon hos allmennlege 179 kr dagtid / 301 kr kveldstid, tillegg hos spesialist i "
    "allmennmedisin ved konsultasjon 56 kr, "
    "https://xn--spesialistklinikkenkrkery-wfc03c.no/om-klinikken/prisoversikt"
)
_CARRIED_FORWARD_2026 = (
    "NOT FOUND: no source for the figures from 1 July 2026 was found; the 2025-2026 figures "
    "(179/301 kr, specialist 235/357 kr) are carried forward. Replace from Normaltariffen "
    "2026-2027 (https://normaltariffen.legeforeningen.no/) or helsenorge.no."
)

DEFAULT_TARIFFS: tuple[TariffRate, ...] = (
    *tariff_rows(
        date(2020, 7, 6),
        ("160", "280", "212", "332"),
        _NORMALTARIFFEN_2020,
        confirmed=True,
        specialist_confirmed=False,
    ),
    *tariff_rows(
        date(2023, 7, 1), ("170", "288", "224", "342"), _PRICE_LISTS_2023, confirmed=False
    ),
    *tariff_rows(date(2025, 7, 1), ("179", "301", "235", "357"), _PRICE_LIST_2025, confirmed=False),
    *tariff_rows(
        date(2026, 7, 1), ("179", "301", "235", "357"), _CARRIED_FORWARD_2026, confirmed=False
    ),
)


def check_tariff_table(tariffs: Sequence[TariffRate]) -> None:
    """Every period names each (code, specialist) once, so every reply finds its row."""
    periods: dict[date, list[tuple[str, bool]]] = {}
    for row in tariffs:
        periods.setdefault(row.valid_from, []).append((row.tariff, row.specialist))
    wanted = sorted((code, s) for code in (DAY_TARIFF, EVENING_TARIFF) for s in (False, True))
    for valid_from, keys in periods.items():
        if sorted(keys) != wanted:
            raise ValueError(
                f"tariff rows from {valid_from.isoformat()} must be exactly one per "
                f"(tariff, specialist) of {wanted}, got {sorted(keys)}"
            )


def unconfirmed_rows(tariffs: Sequence[TariffRate]) -> list[str]:
    """Short labels of the rows no primary source confirms, for the startup warning."""
    return [
        f"{row.valid_from.isoformat()} {row.tariff}{' specialist' if row.specialist else ''}"
        for row in tariffs
        if not row.confirmed
    ]


def tariff_on(
    day: date, tariff: str, specialist: bool, tariffs: Sequence[TariffRate] = DEFAULT_TARIFFS
) -> TariffRate:
    """The row for `tariff` and `specialist` in force on `day`: the latest `valid_from` by then."""
    in_force = [
        row
        for row in tariffs
        if row.valid_from <= day and row.tariff == tariff and row.specialist == specialist
    ]
    if not in_force:
        raise ValueError(f"no co-payment tariff {tariff} in force on {day.isoformat()}")
    return max(in_force, key=lambda row: row.valid_from)


def is_evening_rate(at: datetime) -> bool:
    """True from 16:00 to 08:00 Oslo time, on weekends and on public holidays."""
    day = oslo_day(at)
    local_time = at.astimezone(OSLO).time()
    daytime = DAY_STARTS <= local_time < EVENING_STARTS
    return not daytime or day.weekday() >= 5 or is_public_holiday(day)


def _birthday(birth_date: date, age: int) -> date:
    """The day a person reaches `age`; 29 February birthdays fall on 1 March in common years."""
    year = birth_date.year + age
    try:
        return birth_date.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def is_under_16(birth_date: date, on_day: date) -> bool:
    """True before the 16th birthday (co-payment exemption, and a parent may write for them)."""
    return on_day < _birthday(birth_date, EXEMPTION_AGE)


def exemption_reason(patient: Patient, on_day: date, *, frikort_on_day: bool = False) -> str | None:
    """Why the patient pays nothing on `on_day`, or None if they pay.

    `frikort_on_day` is the frikort register's answer for `on_day`; the portal's flag at
    start counts as well.
    """
    if is_under_16(patient.birth_date, on_day):
        return "under_16"
    if patient.frikort or frikort_on_day:
        return "frikort"
    if patient.exemption and patient.exemption.strip():
        return patient.exemption.strip()
    return None


def decide_copayment(
    request: SettleCopayment,
    tariffs: Sequence[TariffRate] = DEFAULT_TARIFFS,
    *,
    specialist: bool = False,
) -> CopaymentOutcome:
    """Settle the co-payment at the first clinician reply; `specialist` is the replier's flag."""
    settled_at = request.replied_at
    if not request.clinician_replied:
        return CopaymentOutcome(status=CopaymentStatus.NOT_APPLICABLE, settled_at=settled_at)
    if not request.billable:
        return CopaymentOutcome(status=CopaymentStatus.NO_CHARGE, settled_at=settled_at)
    day = oslo_day(request.replied_at)
    tariff = EVENING_TARIFF if is_evening_rate(request.replied_at) else DAY_TARIFF
    exempt = exemption_reason(request.patient, day, frikort_on_day=request.frikort_on_reply_day)
    if exempt is not None:
        return CopaymentOutcome(
            status=CopaymentStatus.EXEMPT,
            tariff=tariff,
            amount_nok=Decimal(0),
            settled_at=settled_at,
        )
    amount = tariff_on(day, tariff, specialist, tariffs).amount_nok
    return CopaymentOutcome(
        status=CopaymentStatus.CHARGED, tariff=tariff, amount_nok=amount, settled_at=settled_at
    )
