"""Development tokens for curl against `make run`: `python -m dev.token service`;
`python -m dev.token record-system --practice legekontoret --sub epj-client` for a practice's
record system fetching the attachments its journal entries link to.

Signs with AUTH_HS256_SECRET, or else the development secret `make run` keeps in .data/, so it
only works where that shared secret is trusted (never in production, which verifies against
the issuer's JWKS).
"""

from __future__ import annotations

import argparse

from api.auth import PRACTICE_SCOPES, Scope
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


def mint(role: str, subject: str, hpr_number: str | None, practice_id: str | None = None) -> str:
    return tokens.mint(
        signing_secret(),
        tokens.scope_of(role),
        subject,
        audience=get_settings().auth_audience,
        # As long as the API accepts (AUTH_MAX_TOKEN_LIFETIME): mint another when it expires.
        expires_in=get_settings().auth_max_token_lifetime,
        hpr=hpr_number,
        practice=practice_id,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=[scope.role for scope in Scope])
    parser.add_argument("--sub", default="dev-portal")
    parser.add_argument("--hpr", help="HPR number of the clinician (role clinician)")
    parser.add_argument(
        "--practice", help="the practice id (roles practice and record-system: required)"
    )
    args = parser.parse_args()
    if tokens.scope_of(args.role) in PRACTICE_SCOPES and not args.practice:
        parser.error(f"role {args.role} acts for one practice: name it with --practice")
    print(mint(args.role, args.sub, args.hpr, args.practice))


if __name__ == "__main__":
    main()
