"""Co-payment (egenandel) rules of SPEC section 4; pure, no I/O."""

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


class TariffRate(BaseModel):
    """Patient co-payment for an e-consultation, in force from `valid_from`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid_from: date
    day_tariff: str = "2ae"
    day_amount_nok: Amount
    evening_tariff: str = "2aek"
    evening_amount_nok: Amount
    source: str = Field(min_length=1)


# Egenandel (patient share) of Normaltariffen takst 2ae (e-konsultasjon, dagtid) and 2aek
# (kveld), for a GP who is not a specialist in general practice (2dd supplement not included).
# Only the first row comes from Legeforeningen's edition of Normaltariffen itself (2ae 160 kr,
# 2aek 280 kr); the 2023 row is quoted from practices' published price lists; no 2025-2026 or
# 2026-2027 figures could be found, so those rows carry 170/288 kr forward as PLACEHOLDERS.
# Replace them from Helfo / Normaltariffen before charging real patients.
_NORMALTARIFFEN_2020 = (
    "Legeforeningen, Normaltariffen (kommentarutgave), kap. B Konsultasjoner og sykebesøk: "
    "takst 2ae egenandel 160 kr, 2aek egenandel 280 kr; "
    "https://normaltariffen.legeforeningen.no/book/Spesialisttariffen/m-866 "
    "(in force from 6 July 2020, unchanged to 30 June 2023 per practices' price lists, "
    "e.g. http://www.helsetlegesenter.no/om-oss/priser/)"
)
_PRICE_LISTS_2023 = (
    "Secondary source, not verified against Normaltariffen: practices' price lists quoting "
    "konsultasjon/e-konsultasjon hos allmennlege dagtid/kveld 170/288 kr for 2023-2024 and "
    "unchanged in July 2024: http://www.cgmwp03.dk/karrestadlegekontor/egenandeler-2021-2022/ "
    "and https://leangenlegesenter.no/priser/ (Prislisteoppdatering juli 2024)"
)


def _placeholder(period: str) -> str:
    """Source text of a row whose official figures were not found."""
    return (
        f"PLACEHOLDER for Normaltariffen {period}: official 2ae/2aek egenandel not found; "
        "170/288 kr carried forward from the 2023 row (practices' price lists). "
        "Replace with the Helfo / Legeforeningen Normaltariffen figures "
        "(https://normaltariffen.legeforeningen.no/, https://www.helfo.no/)."
    )


DEFAULT_TARIFFS: tuple[TariffRate, ...] = (
    TariffRate(
        valid_from=date(2020, 7, 6),
        day_amount_nok=Decimal("160"),
        evening_amount_nok=Decimal("280"),
        source=_NORMALTARIFFEN_2020,
    ),
    TariffRate(
        valid_from=date(2023, 7, 1),
        day_amount_nok=Decimal("170"),
        evening_amount_nok=Decimal("288"),
        source=_PRICE_LISTS_2023,
    ),
    TariffRate(
        valid_from=date(2025, 7, 1),
        day_amount_nok=Decimal("170"),
        evening_amount_nok=Decimal("288"),
        source=_placeholder("2025-2026"),
    ),
    TariffRate(
        valid_from=date(2026, 7, 1),
        day_amount_nok=Decimal("170"),
        evening_amount_nok=Decimal("288"),
        source=_placeholder("2026-2027"),
    ),
)


def tariff_on(day: date, tariffs: Sequence[TariffRate] = DEFAULT_TARIFFS) -> TariffRate:
    """The row in force on `day`: the latest `valid_from` on or before it."""
    in_force = [rate for rate in tariffs if rate.valid_from <= day]
    if not in_force:
        raise ValueError(f"no co-payment tariff in force on {day.isoformat()}")
    return max(in_force, key=lambda rate: rate.valid_from)


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


def exemption_reason(patient: Patient, on_day: date) -> str | None:
    """Why the patient pays nothing on `on_day`, or None if they pay."""
    if is_under_16(patient.birth_date, on_day):
        return "under_16"
    if patient.frikort:
        return "frikort"
    if patient.exemption and patient.exemption.strip():
        return patient.exemption.strip()
    return None


def decide_copayment(
    request: SettleCopayment, tariffs: Sequence[TariffRate] = DEFAULT_TARIFFS
) -> CopaymentOutcome:
    """Settle the co-payment of a consultation at its first clinician reply."""
    settled_at = request.replied_at
    if not request.clinician_replied:
        return CopaymentOutcome(status=CopaymentStatus.NOT_APPLICABLE, settled_at=settled_at)
    if not request.billable:
        return CopaymentOutcome(status=CopaymentStatus.NO_CHARGE, settled_at=settled_at)
    day = oslo_day(request.replied_at)
    rate = tariff_on(day, tariffs)
    evening = is_evening_rate(request.replied_at)
    tariff = rate.evening_tariff if evening else rate.day_tariff
    if exemption_reason(request.patient, day) is not None:
        return CopaymentOutcome(
            status=CopaymentStatus.EXEMPT,
            tariff=tariff,
            amount_nok=Decimal(0),
            settled_at=settled_at,
        )
    amount = rate.evening_amount_nok if evening else rate.day_amount_nok
    return CopaymentOutcome(
        status=CopaymentStatus.CHARGED, tariff=tariff, amount_nok=amount, settled_at=settled_at
    )
