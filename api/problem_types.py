"""Every problem this API can answer: its status, type, and what it means to a client.

docs/problem-types.md is generated from `PROBLEM_TYPES`, and the OpenAPI responses name the
types each status carries from it; tests/operations/test_problem_types.py reads every place
the code builds a `Problem` and fails when one answers what this table does not list.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

URN_PREFIX = "urn:econsult:problem:"
ABOUT_BLANK = "about:blank"


@dataclass(frozen=True)
class ProblemType:
    """One meaning of a (status, type) pair; a pair may have several (403, say). `title` is
    the answer's `title` when it is not the status's reason phrase."""

    status: int
    kind: str | None
    meaning: str
    title: str | None = None

    @property
    def uri(self) -> str:
        # A named kind gets its own type URI; otherwise the status says it all (RFC 9457).
        return f"{URN_PREFIX}{self.kind}" if self.kind else ABOUT_BLANK

    @property
    def answered_title(self) -> str:
        return self.title or HTTPStatus(self.status).phrase


PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType(
        401,
        None,
        "no token, or a token that does not verify (signature, `kid`, `exp`, `aud`, `iss`, "
        "lifetime, `scope` shape, no `sub`, `client_id` or HPR number, a practice claim that is "
        "not a practice id); `WWW-Authenticate: Bearer`",
    ),
    ProblemType(
        401,
        None,
        "a key-bound token (`cnf.jkt`) without a valid `DPoP` proof, or a plain bearer token "
        "while `AUTH_REQUIRE_DPOP=true`; `WWW-Authenticate: DPoP` names the accepted algorithms",
    ),
    ProblemType(403, None, "the token lacks every scope this call takes"),
    ProblemType(
        403,
        None,
        "a clinician token without the HPR-number claim `helseid://claims/hpr/hpr_number`",
    ),
    ProblemType(
        403,
        None,
        "a practice or record-system token without the claim that names its practice",
    ),
    ProblemType(
        404,
        None,
        "unknown, or not the caller's to see (the two are not told apart); also a path the API "
        "does not have",
    ),
    ProblemType(
        405, None, "the path exists but not with this method; `Allow` lists the methods it takes"
    ),
    ProblemType(
        409,
        "invalid-transition",
        "the consultation's status does not allow this command, or a redelivery asked for an "
        "item that is not refused or is already being sent again; nothing changed",
    ),
    ProblemType(
        409, "closed", "the consultation has finished: it takes no more messages or commands"
    ),
    ProblemType(
        410,
        None,
        "the attachment's content was lost and could not be restored (after a restore from "
        "backup); its metadata remains, the file does not",
    ),
    ProblemType(
        413,
        "too-large",
        "the request body is over its route's limit (64 KiB of JSON, 4 MiB to the codec); an "
        "upload over 10 MiB is a 422 `refused` instead",
    ),
    ProblemType(
        422,
        "validation",
        "the request does not match the document; `errors` names the fields (none when the body "
        "cannot be read at all)",
        "Invalid request",
    ),
    ProblemType(
        422,
        "refused",
        "a well-formed request that a rule of the service refuses, `detail` saying which; each "
        "operation's 422 response lists its rules; nothing was written",
        "Request refused",
    ),
    ProblemType(
        422,
        "idempotency-key-reused",
        "this Idempotency-Key was used for a different request",
        "Invalid request",
    ),
    ProblemType(
        422,
        "upload-over-budget",
        "checking the uploaded file needed more CPU time, memory, pixels or inflated bytes "
        "than one upload may; nothing was stored",
        "Upload over budget",
    ),
    ProblemType(
        429,
        "rate-limited",
        "too many commands from this caller; retry after Retry-After seconds (reads are not "
        "limited)",
    ),
    ProblemType(
        429,
        "rate-limited",
        "too many commands for one patient (or one consultation), whichever caller sends them; "
        "the caller's own allowance is not spent; retry after Retry-After seconds",
    ),
    ProblemType(
        431,
        None,
        "the request line and headers are over 16 KiB together; refused before routing or any "
        "token check, and the connection is closed",
    ),
    ProblemType(500, None, "an unexpected error; logged, its text never answered"),
    ProblemType(
        502,
        "webhook-failed",
        "sandbox test events only: the webhook receiver did not answer 2xx, or could not be "
        "reached; `detail` says which",
    ),
    ProblemType(
        503,
        "unavailable",
        "the case store, Temporal or the token issuer's key set (JWKS) is unreachable; retry "
        "after Retry-After seconds",
    ),
    ProblemType(
        503,
        "command-not-taken",
        "the workflow did not take the command within 10 s (no worker polling) or is catching "
        "up after a failed step; retry with the same Idempotency-Key after Retry-After seconds",
    ),
    ProblemType(503, None, "the codec endpoint has no payload keys configured"),
    ProblemType(
        503,
        None,
        "`GET /readyz`: the case store does not answer; `checks` says what each dependency "
        "answered",
    ),
)


def kinds_of(status: int) -> list[str]:
    """The type URIs `status` may carry, each once, in the table's order."""
    uris = [p.uri for p in PROBLEM_TYPES if p.status == status]
    return list(dict.fromkeys(uris)) or [ABOUT_BLANK]
