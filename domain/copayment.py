"""Co-payment (egenandel) rules of docs/copayment.md; pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from domain.ages import is_younger_than
from domain.effects import SettleCopayment
from domain.models import CopaymentOutcome, CopaymentStatus
from domain.parties import NO_EXEMPTION, ClinicianExemption, ExemptionCode, Patient
from domain.working_days import OSLO, is_public_holiday, oslo_day

DAY_STARTS = time(8, 0)
EVENING_STARTS = time(16, 0)

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


class AgeLimit(BaseModel):
    """Patients younger than `age_limit` on the day of the billable message pay nothing, from
    `valid_from` on (until a later row). A row in the same file as the tariffs: a budget that
    changes the limit is one more row, no code change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid_from: date
    age_limit: int = Field(ge=1, le=30)
    source: str = Field(min_length=1)
    confirmed: bool


_UNDER_16 = (
    "helsenorge.no: children under 16 pay no co-payment for GP care, "
    "https://helsenorge.no/betaling-for-helsetjenester/frikort-for-helsetjenester "
    "(Grupper som er fritatt for å betale egenandeler: Barn under 16 år)"
)

DEFAULT_AGE_LIMITS: tuple[AgeLimit, ...] = (
    AgeLimit(valid_from=date(2020, 7, 6), age_limit=16, source=_UNDER_16, confirmed=True),
)


class CopaymentTable(BaseModel):
    """The dated configuration of settlement: amounts per tariff, and the age limit."""

    model_config = ConfigDict(frozen=True)

    tariffs: tuple[TariffRate, ...] = DEFAULT_TARIFFS
    age_limits: tuple[AgeLimit, ...] = DEFAULT_AGE_LIMITS


DEFAULT_TABLE = CopaymentTable()


def age_limit_on(day: date, age_limits: Sequence[AgeLimit] = DEFAULT_AGE_LIMITS) -> int:
    """The age limit in force on `day`: the row with the latest `valid_from` by then."""
    in_force = [row for row in age_limits if row.valid_from <= day]
    if not in_force:
        raise ValueError(f"no co-payment age limit in force on {day.isoformat()}")
    return max(in_force, key=lambda row: row.valid_from).age_limit


def check_age_limits(age_limits: Sequence[AgeLimit]) -> None:
    """At least one row, and one row per date, so every day has exactly one limit."""
    if not age_limits:
        raise ValueError("the co-payment table needs at least one age limit row")
    dates = [row.valid_from for row in age_limits]
    if len(set(dates)) != len(dates):
        raise ValueError("age limit rows must each start on a different date")


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


def unconfirmed_rows(
    tariffs: Sequence[TariffRate], age_limits: Sequence[AgeLimit] = ()
) -> list[str]:
    """Short labels of the rows no primary source confirms, for the startup warning."""
    return [
        f"{row.valid_from.isoformat()} {row.tariff}{' specialist' if row.specialist else ''}"
        for row in tariffs
        if not row.confirmed
    ] + [f"{row.valid_from.isoformat()} age limit" for row in age_limits if not row.confirmed]


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


def start_frikort_counts(started_at: datetime, message_at: datetime) -> bool:
    """The portal's frikort flag at start holds for a message in the same Oslo calendar year:
    a frikort lasts the rest of the calendar year it is granted in."""
    return oslo_day(started_at).year == oslo_day(message_at).year


def exemption_reason(
    patient: Patient,
    on_day: date,
    *,
    declared: ExemptionCode | None = None,
    frikort_on_day: bool = False,
    age_limits: Sequence[AgeLimit] = DEFAULT_AGE_LIMITS,
) -> ExemptionCode | None:
    """Why the patient pays nothing for a message on `on_day`, or None if they pay; the rule
    of a case whose claim is not judged (started before exemptions were judged).

    In this order: the code the clinician declared with the message, the patient's code
    from the start, younger than the age limit on `on_day`, then `frikort_on_day` (the
    effective frikort answer; the patient's start flag is not read here).
    """
    if declared is not None:
        return declared
    if patient.exemption is not None:
        return patient.exemption
    return _ordinary_exemption(patient, on_day, frikort_on_day, age_limits)


def _ordinary_exemption(
    patient: Patient, on_day: date, frikort_on_day: bool, age_limits: Sequence[AgeLimit]
) -> ExemptionCode | None:
    """The exemptions no one declares: younger than the age limit, then a frikort."""
    if is_younger_than(patient.birth_date, age_limit_on(on_day, age_limits), on_day):
        return ExemptionCode.UNDER_AGE
    if frikort_on_day:
        return ExemptionCode.FRIKORT
    return None


# Psychotherapy is exempt for patients younger than 18 (docs/copayment.md).
PSYCHOTHERAPY_AGE_LIMIT = 18
# The codes whose condition the service can check: the patient's age on the day.
AGE_CHECKED_CODES = frozenset({ExemptionCode.UNDER_AGE, ExemptionCode.PSYCHOTHERAPY_UNDER_18})


def exemption_misfit(
    code: ExemptionCode,
    birth_date: date,
    on_day: date,
    age_limits: Sequence[AgeLimit] = DEFAULT_AGE_LIMITS,
) -> str | None:
    """Why `code` does not fit a patient born on `birth_date`, for a message on `on_day`;
    None when it fits or is a code the service cannot check."""
    if code == ExemptionCode.UNDER_AGE:
        limit = age_limit_on(on_day, age_limits)
    elif code == ExemptionCode.PSYCHOTHERAPY_UNDER_18:
        limit = PSYCHOTHERAPY_AGE_LIMIT
    else:
        return None
    if is_younger_than(birth_date, limit, on_day):
        return None
    return (
        f"exemption '{code.value}' is only for a patient younger than {limit} "
        f"on the day of the message"
    )


@dataclass(frozen=True)
class ExemptionVerdict:
    """The code a message is exempt by before age and frikort are counted (None: the
    ordinary rule decides), and why the patient's claimed code was set aside, if it was."""

    code: ExemptionCode | None
    claim_set_aside: str | None = None


def judge_exemption(
    patient: Patient,
    on_day: date,
    clinician: ClinicianExemption | None,
    age_limits: Sequence[AgeLimit] = DEFAULT_AGE_LIMITS,
) -> ExemptionVerdict:
    """The clinician's word on the patient's claim: a code confirms or replaces it, "none"
    overrules it, no word leaves it in force. A code the patient's age does not fit on
    `on_day` is set aside (the workflow refuses such a code from the clinician beforehand;
    here it is the portal's claim, or a table whose age limit changed since)."""
    claim = patient.exemption
    if clinician == NO_EXEMPTION:
        if claim is None:
            return ExemptionVerdict(None)
        return ExemptionVerdict(None, f"claimed '{claim.value}' overruled by the clinician")
    code = clinician if isinstance(clinician, ExemptionCode) else claim
    set_aside = None
    if claim is not None and code != claim:
        set_aside = f"claimed '{claim.value}' replaced by the clinician with '{code}'"
    if code is not None and (
        misfit := exemption_misfit(code, patient.birth_date, on_day, age_limits)
    ):
        whose = "the clinician's" if code != claim else "claimed"
        return ExemptionVerdict(None, f"{whose} code ignored: {misfit}")
    return ExemptionVerdict(code, set_aside)


def judged_exemption(
    request: SettleCopayment, on_day: date, age_limits: Sequence[AgeLimit]
) -> tuple[ExemptionCode | None, str | None]:
    """Why the patient pays nothing (or None), and why their claim was set aside (or None)."""
    if not request.judge_claim:
        declared = request.exemption if isinstance(request.exemption, ExemptionCode) else None
        reason = exemption_reason(
            request.patient,
            on_day,
            declared=declared,
            frikort_on_day=request.frikort_on_reply_day,
            age_limits=age_limits,
        )
        return reason, None
    verdict = judge_exemption(request.patient, on_day, request.exemption, age_limits)
    if verdict.code is not None:
        return verdict.code, verdict.claim_set_aside
    ordinary = _ordinary_exemption(
        request.patient, on_day, request.frikort_on_reply_day, age_limits
    )
    return ordinary, verdict.claim_set_aside


def _exemption_note(request: SettleCopayment, code: ExemptionCode) -> str | None:
    """The note of `other`, from whoever declared it (the clinician first)."""
    if code != ExemptionCode.OTHER:
        return None
    if isinstance(request.exemption, ExemptionCode):
        return request.exemption_note
    return request.patient.exemption_note


def decide_copayment(
    request: SettleCopayment, table: CopaymentTable = DEFAULT_TABLE
) -> CopaymentOutcome:
    """Settle the co-payment on the first billable clinician message.

    The tariff is the one of the message's time (2ae by day, 2aek in the evening, on
    weekends and public holidays); the amount is that tariff's, at the specialist rate when
    the author was a specialist in general practice, on the message's Oslo day.
    """
    settled_at = request.replied_at
    day = oslo_day(request.replied_at)
    tariff = EVENING_TARIFF if is_evening_rate(request.replied_at) else DAY_TARIFF
    exempt, claim_set_aside = judged_exemption(request, day, table.age_limits)
    if exempt is not None:
        return CopaymentOutcome(
            status=CopaymentStatus.EXEMPT,
            tariff=tariff,
            amount_nok=Decimal(0),
            settled_at=settled_at,
            exemption=exempt,
            exemption_note=_exemption_note(request, exempt),
            claim_set_aside=claim_set_aside,
        )
    specialist = request.specialist_in_general_practice
    amount = tariff_on(day, tariff, specialist, table.tariffs).amount_nok
    return CopaymentOutcome(
        status=CopaymentStatus.CHARGED,
        tariff=tariff,
        amount_nok=amount,
        settled_at=settled_at,
        claim_set_aside=claim_set_aside,
    )
