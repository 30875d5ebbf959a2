"""What the UI tests share with their fixtures: the `make run` stack and where screenshots go."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dev.harness.processes import ROOT
from tests.api.support import Tokens

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "tmp" / "artifacts"))


@dataclass(frozen=True)
class DevStack:
    ui_port: int
    api_url: str
    temporal_address: str
    tokens: Tokens
    log: Path

    def ui(self, host: str = "localhost") -> str:
        return f"http://{host}:{self.ui_port}"
