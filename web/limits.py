"""Refuse request bodies larger than a limit before reading them (413, JSON error body)."""

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")
UPLOAD_PATH = re.compile(r"^(/api)?/entries/[^/]+/attachments$")


class BodySizeLimit:
    """Checks Content-Length, and counts the bytes of bodies sent without one.

    Forms get a limit of their own, max_form_bytes: Starlette's form parser refuses a field
    over 1 MiB with a 400 of its own, so ours has to come first to answer with the 413."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_form_bytes: int | None = None,
        upload_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_form_bytes = max_form_bytes or max_bytes
        # Attachment uploads (multipart) may be as large as KB_ATTACHMENT_MAX_MB allows.
        self.upload_bytes = upload_bytes or self.max_form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        is_form = headers.get(b"content-type", b"").lower().startswith(FORM_TYPES)
        max_bytes = self.max_form_bytes if is_form else self.max_bytes
        if is_form and UPLOAD_PATH.match(scope.get("path", "")):
            max_bytes = self.upload_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, max_bytes)
            return
        # A body sent without Content-Length (chunked) is refused as soon as it grows too
        # large, from inside receive: the 413 goes out there and then, since the form and
        # JSON parsers turn any error while reading into a 400 of their own. Whatever the
        # app sends after that is dropped.
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(send, max_bytes)
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass  # answered above (a response the app had already started is cut short)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        message = f"the request body is too large: at most {max_bytes:,} bytes"
        body = json.dumps(
            {"error": {"status": 413, "code": "too_large", "message": message, "details": None}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass
