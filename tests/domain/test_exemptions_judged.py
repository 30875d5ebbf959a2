"""The clinician judges the patient's claimed exemption (docs/copayment.md, "Claimed
exemptions"): confirm, replace, overrule with "none", or leave it; age-checked codes must fit
the patient on the message's day. Pure: settlement, the workflow's checks, the register."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain import checks, decisions
from domain.checks import Refused
from domain.copayment import decide_copayment, exemption_misfit
from domain.copayment_case import CopaymentCase
from domain.effects import DirectoryAnswer
from domain.events import Bill
from domain.models import (
    CloseCommand,
    ConsultationStart,
    ConsultationState,
    CopaymentOutcome,
    CopaymentStatus,
    MessageContent,
    Refusal,
    ReplyCommand,
    Role,
)
from domain.parties import NO_EXEMPTION, ClinicianExemption, ExemptionCode, Patient
from tests.domain.copayment_support import TEST_TABLE, oslo, settle

PREGNANT = Patient(id="p-1", birth_date=date(1990, 4, 2), exemption=ExemptionCode.PREGNANCY_CHECKUP)
FORTY_SIX = Patient(id="p-2", birth_date=date(1980, 5, 17))
DAY = oslo(2026, 9, 9)


def judged(
    patient: Patient, clinician: ClinicianExemption | None = None, **fields: Any
) -> CopaymentOutcome:
    """The settlement of a message at `at` (default DAY) in a case whose claim is judged."""
    at = fields.pop("at", DAY)
    request = settle(at, patient, exemption=clinician, judge_claim=True, **fields)
    return decide_copayment(request, TEST_TABLE)


# --- settlement: the claim confirmed, replaced, overruled or left ---------------------------


def test_a_claim_the_clinician_confirms_exempts() -> None:
    outcome = judged(PREGNANT, ExemptionCode.PREGNANCY_CHECKUP)
    assert outcome.status == CopaymentStatus.EXEMPT
    assert outcome.exemption == ExemptionCode.PREGNANCY_CHECKUP
    assert outcome.claim_set_aside is None


def test_a_claim_the_clinician_replaces_exempts_by_their_code_and_says_so() -> None:
    outcome = judged(PREGNANT, ExemptionCode.OCCUPATIONAL_INJURY)
    assert outcome.status == CopaymentStatus.EXEMPT
    assert outcome.exemption == ExemptionCode.OCCUPATIONAL_INJURY
    assert outcome.claim_set_aside == (
        "claimed 'pregnancy_checkup' replaced by the clinician with 'occupational_injury'"
    )


def test_a_claim_the_clinician_overrules_is_charged_and_says_so() -> None:
    outcome = judged(PREGNANT, NO_EXEMPTION)
    assert outcome.status == CopaymentStatus.CHARGED
    assert (outcome.tariff, outcome.amount_nok) == ("2ae", Decimal("110"))
    assert outcome.exemption is None
    assert outcome.claim_set_aside == "claimed 'pregnancy_checkup' overruled by the clinician"


def test_none_sets_aside_the_claim_only_a_patient_under_the_age_limit_stays_exempt() -> None:
    child = Patient(
        id="p-3", birth_date=date(2015, 1, 1), exemption=ExemptionCode.VIOLENCE_OR_ABUSE
    )
    outcome = judged(child, NO_EXEMPTION)
    assert (outcome.status, outcome.exemption) == (CopaymentStatus.EXEMPT, ExemptionCode.UNDER_AGE)
    assert outcome.claim_set_aside is not None


def test_none_sets_aside_the_claim_only_a_frikort_still_exempts() -> None:
    outcome = judged(PREGNANT, NO_EXEMPTION, frikort_on_reply_day=True)
    assert (outcome.status, outcome.exemption) == (CopaymentStatus.EXEMPT, ExemptionCode.FRIKORT)


def test_none_without_a_claim_is_the_ordinary_rule() -> None:
    outcome = judged(FORTY_SIX, NO_EXEMPTION)
    assert outcome.status == CopaymentStatus.CHARGED
    assert outcome.claim_set_aside is None


def test_a_billable_message_without_an_exemption_leaves_the_claim_in_force() -> None:
    outcome = judged(PREGNANT, None)
    assert (outcome.status, outcome.exemption) == (
        CopaymentStatus.EXEMPT,
        ExemptionCode.PREGNANCY_CHECKUP,
    )
    assert outcome.claim_set_aside is None


def test_a_portal_claim_of_psychotherapy_under_18_for_a_30_year_old_is_ignored() -> None:
    thirty = Patient(
        id="p-4", birth_date=date(1996, 3, 1), exemption=ExemptionCode.PSYCHOTHERAPY_UNDER_18
    )
    outcome = judged(thirty)
    assert outcome.status == CopaymentStatus.CHARGED
    assert outcome.exemption is None
    assert outcome.claim_set_aside == (
        "claimed code ignored: exemption 'psychotherapy_under_18' is only for a patient "
        "younger than 18 on the day of the message"
    )


def test_an_ignored_claim_leaves_the_ordinary_rule_a_frikort_exempts() -> None:
    claims_under_age = FORTY_SIX.model_copy(update={"exemption": ExemptionCode.UNDER_AGE})
    outcome = judged(claims_under_age, frikort_on_reply_day=True)
    assert (outcome.status, outcome.exemption) == (CopaymentStatus.EXEMPT, ExemptionCode.FRIKORT)
    assert outcome.claim_set_aside is not None and "under_age" in outcome.claim_set_aside


def test_a_case_whose_claim_is_not_judged_keeps_the_claim_whatever_the_age() -> None:
    claims_under_age = FORTY_SIX.model_copy(update={"exemption": ExemptionCode.UNDER_AGE})
    outcome = decide_copayment(settle(DAY, claims_under_age), TEST_TABLE)
    assert (outcome.status, outcome.exemption) == (CopaymentStatus.EXEMPT, ExemptionCode.UNDER_AGE)


# --- the age-checked codes and their birthdays -------------------------------------------------

BORN = date(2010, 9, 10)


@pytest.mark.parametrize(
    ("code", "on_day", "fits"),
    [
        (ExemptionCode.UNDER_AGE, date(2026, 9, 9), True),
        (ExemptionCode.UNDER_AGE, date(2026, 9, 10), False),
        (ExemptionCode.PSYCHOTHERAPY_UNDER_18, date(2028, 9, 9), True),
        (ExemptionCode.PSYCHOTHERAPY_UNDER_18, date(2028, 9, 10), False),
        (ExemptionCode.PREGNANCY_CHECKUP, date(2060, 1, 1), True),
    ],
    ids=["day before 16th", "16th birthday", "day before 18th", "18th birthday", "unchecked"],
)
def test_age_checked_codes_fit_until_the_birthday(
    code: ExemptionCode, on_day: date, fits: bool
) -> None:
    assert (exemption_misfit(code, BORN, on_day) is None) is fits


def test_a_psychotherapy_claim_on_the_18th_birthday_is_ignored_the_day_before_it_exempts() -> None:
    patient = Patient(id="p-5", birth_date=BORN, exemption=ExemptionCode.PSYCHOTHERAPY_UNDER_18)
    before = judged(patient, at=oslo(2028, 9, 9, 23, 59))
    on_birthday = judged(patient, at=oslo(2028, 9, 10, 0, 0))
    assert before.exemption == ExemptionCode.PSYCHOTHERAPY_UNDER_18
    assert on_birthday.status == CopaymentStatus.CHARGED


# --- the workflow's checks: a clinician's code that does not fit is refused ------------------

NOW = datetime(2026, 9, 9, 10, 0, tzinfo=oslo(2026, 9, 9).tzinfo)


def case(patient: Patient, *, exemptions_judged: bool = True) -> ConsultationState:
    start = ConsultationStart(
        consultation_id="c-1",
        patient=patient,
        clinician_id="hpr-1",
        recipient_id="hpr-1",
        copayment_accepted=True,
        message=MessageContent(body="A question."),
    )
    at = NOW - timedelta(hours=1)
    new = decisions.new_case(start, at, exemptions_judged=exemptions_judged)
    directory = DirectoryAnswer(
        recipient_id="hpr-1", practice_id="practice-1", reply_within_working_days=5
    )
    return decisions.open_case(new, start, directory, at, "m-0").state


def answer(exemption: ClinicianExemption | None, **fields: Any) -> ReplyCommand:
    return ReplyCommand(
        author_role=Role.CLINICIAN,
        author_id="hpr-1",
        message=MessageContent(body="An answer."),
        exemption=exemption,
        **fields,
    )


@pytest.mark.parametrize("close", [False, True], ids=["reply", "reply and close"])
def test_a_clinician_declaring_under_age_for_a_46_year_old_is_refused(close: bool) -> None:
    refusal = checks.check_reply(
        case(FORTY_SIX), answer(ExemptionCode.UNDER_AGE, close=close), NOW.date()
    )
    assert isinstance(refusal, Refused)
    assert refusal.refusal == Refusal.EXEMPTION_NOT_ALLOWED
    assert "under_age" in refusal.reason and "younger than 16" in refusal.reason
    # the handler refuses as well (under the lock), so nothing is decided
    assert isinstance(
        decisions.reply(case(FORTY_SIX), answer(ExemptionCode.UNDER_AGE), NOW, "m-1"), Refused
    )


def test_a_close_declaring_psychotherapy_under_18_for_a_46_year_old_is_refused() -> None:
    command = CloseCommand(
        clinician_id="hpr-1",
        message=MessageContent(body="Done."),
        exemption=ExemptionCode.PSYCHOTHERAPY_UNDER_18,
    )
    refusal = checks.check_close(case(FORTY_SIX), command, NOW.date())
    assert isinstance(refusal, Refused) and refusal.refusal == Refusal.EXEMPTION_NOT_ALLOWED
    assert isinstance(decisions.close(case(FORTY_SIX), command, NOW, "m-1"), Refused)


def test_a_clinician_declaring_under_age_the_day_before_the_16th_birthday_is_taken() -> None:
    fifteen = Patient(id="p-6", birth_date=date(2010, 9, 10))
    assert checks.check_reply(case(fifteen), answer(ExemptionCode.UNDER_AGE), NOW.date()) is None


@pytest.mark.parametrize("exemption", [NO_EXEMPTION, ExemptionCode.PREGNANCY_CHECKUP, None])
def test_the_clinicians_other_words_are_taken(exemption: ClinicianExemption | None) -> None:
    assert checks.check_reply(case(PREGNANT), answer(exemption), NOW.date()) is None


def test_none_is_refused_in_a_case_started_before_claims_were_judged() -> None:
    older = case(PREGNANT, exemptions_judged=False)
    refusal = checks.check_reply(older, answer(NO_EXEMPTION), NOW.date())
    assert isinstance(refusal, Refused) and refusal.refusal == Refusal.EXEMPTION_NOT_ALLOWED
    # its other codes are not age-checked: it keeps the rules it started with
    assert checks.check_reply(older, answer(ExemptionCode.UNDER_AGE), NOW.date()) is None


# --- the settlement's inputs and the frikort register ---------------------------------------


def test_the_settlement_of_a_judged_case_judges_the_claim() -> None:
    state = case(PREGNANT)
    bill = Bill(clinician_id="hpr-1", at=NOW, exemption=NO_EXEMPTION)
    request = CopaymentCase(state).settlement(bill, specialist=False, frikort=False)
    assert request.judge_claim and request.exemption == NO_EXEMPTION
    assert (
        not CopaymentCase(case(PREGNANT, exemptions_judged=False))
        .settlement(bill, specialist=False, frikort=False)
        .judge_claim
    )


@pytest.mark.parametrize(
    ("claim", "clinician", "expected"),
    [
        (ExemptionCode.PREGNANCY_CHECKUP, None, False),
        (ExemptionCode.PREGNANCY_CHECKUP, NO_EXEMPTION, None),
        (None, ExemptionCode.MILITARY_SERVICE, False),
        (ExemptionCode.PSYCHOTHERAPY_UNDER_18, None, None),
        (None, ExemptionCode.UNDER_AGE, None),
        (None, None, None),
    ],
    ids=[
        "claim stands",
        "claim overruled",
        "clinician's code",
        "age-checked claim",
        "age-checked code",
        "nothing declared",
    ],
)
def test_a_judged_case_asks_the_register_unless_a_code_stands_whatever_the_age(
    claim: ExemptionCode | None, clinician: ClinicianExemption | None, expected: bool | None
) -> None:
    state = case(PREGNANT.model_copy(update={"exemption": claim}))
    bill = Bill(clinician_id="hpr-1", at=NOW, exemption=clinician)
    assert CopaymentCase(state).frikort_without_register(bill) is expected


@pytest.mark.parametrize(
    ("started", "message", "counts"),
    [
        (oslo(2026, 12, 31, 23, 59), oslo(2026, 12, 31, 23, 59, 59), True),
        (oslo(2026, 12, 31, 23, 59), oslo(2027, 1, 1, 0, 0), False),
    ],
    ids=["31 December", "1 January"],
)
def test_the_portals_frikort_flag_counts_in_the_starts_calendar_year_only(
    started: datetime, message: datetime, counts: bool
) -> None:
    state = case(FORTY_SIX.model_copy(update={"frikort": True})).model_copy(
        update={"created_at": started}
    )
    bill = Bill(clinician_id="hpr-1", at=message)
    assert CopaymentCase(state).frikort_without_register(bill) is (True if counts else None)
