"""What every model of the domain shares: the base model and the constrained strings.

Every model ignores unknown fields on the way in, so a newer field in an old history (or an
older worker reading a newer payload) never breaks a running consultation.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_BODY_CHARS = 5000
MAX_ATTACHMENTS_PER_MESSAGE = 5

# For JSON schemas (the API's OpenAPI document): a string that is not all whitespace, as
# pydantic's strip_whitespace counts it (Unicode White_Space). Documentation only: the
# constraints below are what validates.
NOT_BLANK = r"[^\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NOT_BLANK_SCHEMA = Field(json_schema_extra={"pattern": NOT_BLANK})

MessageBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS),
    _NOT_BLANK_SCHEMA,
]
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), _NOT_BLANK_SCHEMA
]

# A practice's id names its folder of secrets (ECONSULT_SECRETS_DIR/<practice_id>/), so it is a
# plain ASCII name: no `/`, and no leading `.`, so neither `.`, `..` nor a hidden name.
PRACTICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_PRACTICE_ID = re.compile(PRACTICE_ID_PATTERN)
PracticeId = Annotated[
    str,
    StringConstraints(pattern=PRACTICE_ID_PATTERN),
    Field(
        description="1-64 letters, digits, `.`, `_` and `-`, starting with a letter or digit",
        examples=["legesenteret"],
    ),
]


def is_practice_id(value: str) -> bool:
    """Whether `value` may name a practice (and so its folder of secrets)."""
    return _PRACTICE_ID.fullmatch(value) is not None


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)
