"""One event of a consultation as the workflow commits it: everything the event writes, in one
transaction, and what the commit answers. Pure data, no I/O."""

from __future__ import annotations

from datetime import datetime

from domain.base import Model
from domain.effects import (
    FrikortQuestion,
    JournalEntryInput,
    MessageToStore,
    NotificationInput,
    SettleCopayment,
)
from domain.models import ConsultationRecord, CopaymentOutcome
from domain.parties import ClinicianExemption


class Bill(Model):
    """The billable clinician message the co-payment is taken on: who wrote it, when, and an
    exemption they recognised with it."""

    clinician_id: str
    at: datetime
    exemption: ClinicianExemption | None = None
    exemption_note: str | None = None


class Event(Model):
    """The case row after the event and what the event brings with it: its message (its
    attachments bound to it), journal entries, outbox rows, and the co-payment's charge."""

    record: ConsultationRecord
    message: MessageToStore | None = None
    journal: list[JournalEntryInput] = []
    notifications: list[NotificationInput] = []
    # A billable message taken: the commit answers whether its author is a specialist in
    # general practice (as the directory says then), and settlement starts after it.
    bill: Bill | None = None
    # The co-payment settled: the commit decides the outcome by the worker's tariff table and
    # writes the charge row with the case row.
    settlement: SettleCopayment | None = None
    # Runs since the patch first-attempt-in-commit: the commit makes the first attempt at the
    # event's notifications once its transaction is in, and asks the frikort register for a
    # billed message, so a lifecycle needs no activity (and no workflow task) for either when
    # they answer at once. Anything that does not answer goes on in the background as before.
    first_attempt: bool = False
    ask_frikort: FrikortQuestion | None = None


class Committed(Model):
    applied: bool
    # The practice's journal entries go on to an external record system (FHIR).
    forward: bool = False
    specialist_in_general_practice: bool = False
    # For a settlement: the outcome recorded (the first one, on a retry).
    copayment: CopaymentOutcome | None = None
    # The notifications the commit's first attempt sent; the workflow starts a delivery for
    # the others.
    notified: list[str] = []
    # The frikort register's answer for `ask_frikort`; None when not asked or it did not answer.
    frikort: bool | None = None
