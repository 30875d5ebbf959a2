"""DPoP proofs (RFC 9449) for curl against `make run`, with the key `python -m dev.token
--dpop-key FILE` bound the token to:

    python -m dev.dpop_proof FILE GET http://127.0.0.1:8000/v1/... --token "$TOKEN"

prints the proof for the `DPoP` header of that one request (a new one for every request: the
API accepts each proof once). The key file is a private JWK (EC P-256, signed ES256), made by
`dev.token` when it does not exist yet; in production the record system keeps its own key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from api.dpop import PRIVATE_MEMBERS, PROOF_TYPE, access_token_hash, thumbprint

PROOF_ALGORITHM = "ES256"


def private_jwk(path: Path) -> tuple[dict[str, Any], bool]:
    """The private JWK in `path`, made (readable by its owner only) if the file does not exist;
    and whether it was made now."""
    if path.exists():
        return json.loads(path.read_text()), False
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        json.dump(jwk, file)
    return jwk, True


def public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    """What a proof's header carries: the key without its private members."""
    return {name: value for name, value in jwk.items() if name not in PRIVATE_MEMBERS}


def key_thumbprint(jwk: dict[str, Any]) -> str:
    """The key's RFC 7638 thumbprint: the `cnf.jkt` of a token bound to it."""
    return thumbprint(jwt.PyJWK(public_jwk(jwk), PROOF_ALGORITHM))


def proof(jwk: dict[str, Any], method: str, url: str, access_token: str) -> str:
    """A proof for one request: `url` without query or fragment, as the API will receive it."""
    claims = {
        "jti": str(uuid.uuid4()),
        "htm": method.upper(),
        "htu": url.split("?")[0].split("#")[0],
        "iat": int(time.time()),
        "ath": access_token_hash(access_token),
    }
    signer = jwt.PyJWK(jwk, PROOF_ALGORITHM)
    return jwt.encode(
        claims,
        signer.key,
        algorithm=PROOF_ALGORITHM,
        headers={"typ": PROOF_TYPE, "jwk": public_jwk(jwk)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("key", type=Path, help="the private JWK the token is bound to")
    parser.add_argument("method", help="the request's method, e.g. GET")
    parser.add_argument("url", help="the request's URL, as the API receives it")
    parser.add_argument("--token", required=True, help="the DPoP-bound access token")
    args = parser.parse_args()
    if not args.key.exists():
        sys.exit(f"{args.key} does not exist: `python -m dev.token --dpop-key` makes it")
    jwk, _ = private_jwk(args.key)
    print(proof(jwk, args.method, args.url, args.token))


if __name__ == "__main__":
    main()
