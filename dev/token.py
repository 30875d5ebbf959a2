"""Development tokens for curl against `make run`: `python -m dev.token service`;
`python -m dev.token record-system --practice legekontoret --sub epj-client` for a practice's
record system fetching the attachments its journal entries link to. With `--dpop-key FILE` the
token is bound to that key (claim `cnf.jkt`, RFC 9449), as HelseID binds record systems'
tokens: send it as `Authorization: DPoP <token>` with a proof from `python -m dev.dpop_proof`.
The practice goes in the claim AUTH_PRACTICE_CLAIM names, as the API reads it.

Signs with AUTH_HS256_SECRET, or else the development secret `make run` keeps in .data/, so it
only works where that shared secret is trusted (never in production, which verifies against
the issuer's JWKS).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from api.auth import PRACTICE_SCOPES, Scope
from dev import dpop_proof
from dev.harness import tokens
from dev.run import DEV_AUTH_SECRET_FILE
from infra.settings import get_settings


def signing_secret() -> str:
    secret = get_settings().auth_hs256_secret
    if secret:
        return secret
    if DEV_AUTH_SECRET_FILE.exists():
        return DEV_AUTH_SECRET_FILE.read_text().strip()
    raise SystemExit(
        f"no AUTH_HS256_SECRET: set it, or run `make run` once to create {DEV_AUTH_SECRET_FILE}"
    )


def mint(
    role: str,
    subject: str,
    hpr_number: str | None,
    practice_id: str | None = None,
    dpop_jkt: str | None = None,
) -> str:
    """A token for `role`; bound to the key with thumbprint `dpop_jkt` if given."""
    bound: dict[str, Any] = {"cnf": {"jkt": dpop_jkt}} if dpop_jkt else {}
    return tokens.mint(
        signing_secret(),
        tokens.scope_of(role),
        subject,
        audience=get_settings().auth_audience,
        # As long as the API accepts (AUTH_MAX_TOKEN_LIFETIME): mint another when it expires.
        expires_in=get_settings().auth_max_token_lifetime,
        hpr=hpr_number,
        practice=practice_id,
        practice_claim=get_settings().auth_practice_claim,
        **bound,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=[scope.role for scope in Scope])
    parser.add_argument("--sub", default="dev-portal")
    parser.add_argument("--hpr", help="HPR number of the clinician (role clinician)")
    parser.add_argument(
        "--practice", help="the practice id (roles practice and record-system: required)"
    )
    parser.add_argument(
        "--dpop-key",
        type=Path,
        help="bind the token to this private JWK (made, EC P-256, if the file does not exist)",
    )
    args = parser.parse_args()
    if tokens.scope_of(args.role) in PRACTICE_SCOPES and not args.practice:
        parser.error(f"role {args.role} acts for one practice: name it with --practice")
    jkt = None
    if args.dpop_key is not None:
        jwk, made = dpop_proof.private_jwk(args.dpop_key)
        if made:
            print(f"made a new DPoP key in {args.dpop_key}; keep it private", file=sys.stderr)
        jkt = dpop_proof.key_thumbprint(jwk)
    print(mint(args.role, args.sub, args.hpr, args.practice, jkt))


if __name__ == "__main__":
    main()
