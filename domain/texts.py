"""Every text the service writes itself into a patient's thread or a journal entry, in Norwegian
(bokmål), in one place for a translator. A practice's own texts (its decline text) are used as
given and never pass through here. A changed text applies to entries written after the deploy;
entries already written keep theirs. Pure, no I/O."""

from __future__ import annotations

# The clinician's closing message in the patient's thread when a consultation is declined as
# not suited to an e-consultation and the practice has no decline text of its own (also
# journaled as the clinician's message).
DEFAULT_DECLINE_MESSAGE = (
    "Henvendelsen din egner seg ikke for e-konsultasjon. Bestill time hos behandleren din, "
    "slik at du kan få den hjelpen du trenger."
)

# Journal entry when the clinician closes the consultation.
CLOSED_BY_CLINICIAN = "E-konsultasjonen er avsluttet av behandler."

# Journal entry when the clinician closes the consultation as not suited to an e-consultation.
DECLINED_BY_CLINICIAN = (
    "E-konsultasjonen er avsluttet av behandler fordi henvendelsen ikke egner seg for "
    "e-konsultasjon."
)

# Journal entry when the patient withdraws the consultation before any reply.
WITHDRAWN_BY_PATIENT = "E-konsultasjonen er trukket tilbake av pasienten før noe svar er gitt."

# The same, when a representative withdraws on the patient's behalf (the entry's author and
# sender name the representative and the relation; the text names no one).
WITHDRAWN_BY_REPRESENTATIVE = (
    "E-konsultasjonen er trukket tilbake på vegne av pasienten før noe svar er gitt."
)

# Journal entry when the service closes a consultation the patient left unanswered.
# {days}: the number of days waited (30).
CLOSED_FOR_INACTIVITY = (
    "E-konsultasjonen er avsluttet automatisk etter {days} dager uten svar fra pasienten."
)

# Journal entry when a practice administrator moves the consultation to another clinician.
# {by}: the administrator's user id; {former}, {recipient}: the clinicians' ids;
# {reason}: the administrator's reason, as written.
REASSIGNED = (
    "E-konsultasjonen er overført av {by} fra behandler {former} til behandler {recipient}. "
    "Begrunnelse: {reason}"
)

# The note on a reassignment's FHIR Communication that names the administrator beside the
# practice (the sender). {user}: the administrator's user id.
REASSIGNED_BY_USER = "Overført av bruker {user} på vegne av legekontoret."
