"""The HTTP/1.1 protocol the API is served with: uvicorn's httptools protocol, with a cap on a
request's head (request line, headers and the blank line after them).

httptools buffers a header of any size before it reports it, so a 64 MB header would be held
in memory whole and then served. The cap is therefore applied to the bytes fed to the parser,
before it sees them: the head of a request is fed at most MAX_HEAD_BYTES, and one that has not
ended by then is answered 431 (RFC 6585) without parsing further, routing or checking a token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from api.problems import Problem

MAX_HEAD_BYTES = 16 * 1024
# After a 431 the client is most likely still sending its head: what arrives meanwhile is read
# and dropped for this long before the connection closes. Closing at once, with its bytes
# unread, would reset the connection and the client could lose the answer.
LINGER_SECONDS = 2.0

_REFUSAL = f"request line and headers exceed {MAX_HEAD_BYTES} bytes"
HEAD_TOO_LARGE = b"".join(
    [
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        b"content-type: application/problem+json\r\n",
        b"connection: close\r\n",
        b"content-length: %d\r\n\r\n",
    ]
)


def _problem() -> bytes:
    # Written to the socket before any app runs, so not through the app's problem handler.
    refusal = Problem(431, _REFUSAL)
    answer = {"type": refusal.type, "title": refusal.title, "status": 431, "detail": _REFUSAL}
    body = json.dumps(answer, separators=(",", ":")).encode()
    return HEAD_TOO_LARGE % len(body) + body


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a request head over MAX_HEAD_BYTES is answered 431."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._in_head = True
        self._head_bytes = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        while self._in_head and data:
            room = MAX_HEAD_BYTES - self._head_bytes
            if room <= 0:
                self._refuse()
                return
            chunk, data = data[:room], data[room:]
            self._head_bytes += len(chunk)
            super().data_received(chunk)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next request on this connection starts its own count. Bytes of it that came in
        # the same chunk as this one's end were counted here, so its head may be undercounted
        # by at most one chunk (MAX_HEAD_BYTES): still bounded.
        self._in_head = True
        self._head_bytes = 0

    def _refuse(self) -> None:
        self._refused = True
        self.logger.info("request head over %d bytes refused with 431", MAX_HEAD_BYTES)
        self.transport.write(_problem())
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
