"""Security headers on every answer, pages and API alike, as plain ASGI middleware.

- Content-Security-Policy: everything from our own origin, no 'unsafe-inline' (an injected script does not run);
  `frame-ancestors` from ALLOWED_FRAME_ANCESTORS, so a business can embed the chat on its own site and nobody
  else can frame it. An inline block a shipped page still has is allowed by its hash, and only that block.
- X-Content-Type-Options: nosniff; Referrer-Policy: no-referrer (conversation ids stay out of other sites' logs).
- Cache-Control: no-store on conversation data and the lead intake answer (a shared or back-button cache must
  not keep someone's messages or their conversation token).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_STORE_PREFIXES = ("/api/conversations", "/api/leads", "/api/chatwoot-conversation", "/api/admin", "/api/console",
                     "/console")
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_INLINE_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def _hashes(pattern: re.Pattern[str], pages: list[str]) -> list[str]:
    return sorted({"'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"
                   for page in pages for block in pattern.findall(page) if block.strip()})


def content_security_policy(frame_ancestors: str, pages_dir: Path | None = None) -> str:
    pages = [path.read_text(encoding="utf-8") for path in sorted(pages_dir.glob("*.html"))] if pages_dir else []
    scripts = " ".join(["'self'", *_hashes(_INLINE_SCRIPT, pages)])
    styles = " ".join(["'self'", *_hashes(_INLINE_STYLE, pages)])
    return "; ".join([
        "default-src 'self'", f"script-src {scripts}", f"style-src {styles}", "img-src 'self' data:",
        "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
        f"frame-ancestors {frame_ancestors}",
    ])


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self.app = app
        self.headers = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
                        "Referrer-Policy": "no-referrer"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = str(scope.get("path", "")).startswith(NO_STORE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if no_store:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
