"""uvicorn's `Server`, told to end our open event streams when it is asked to stop.

uvicorn's graceful shutdown waits for every response in flight to finish before the app's lifespan ends, and a
server-sent-event stream never finishes by itself: a SIGTERM would hang until each browser hung up. The app
sets `app.state.shutting_down` (api/app.py); calling it on the exit signal ends every stream at once, and the
browsers reconnect, with `Last-Event-ID`, to another process.
"""

from __future__ import annotations

from types import FrameType
from typing import Any

import uvicorn

# How long an idle HTTP connection is kept open. Longer than the idle timeout of what sits in front (60 s is common
# for load balancers and clients' pools): with uvicorn's default 5 s the server closes a connection just as the
# peer reuses it, and that request fails with "connection reset" (seen in a test: a GET after 6 s without calls).
KEEP_ALIVE_S = 75


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """The API's uvicorn settings, for `aibroker serve` and `dev` and for the tests' servers alike. proxy_headers off:
    uvicorn would believe X-Forwarded-For from any 127.0.0.1 peer; the client IP is worked out from TRUSTED_PROXIES
    in api/ratelimit.py instead (the only place a forwarded address is believed)."""
    return uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on", proxy_headers=False,
                          timeout_keep_alive=KEEP_ALIVE_S)


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        shutting_down = getattr(getattr(self.config.app, "state", None), "shutting_down", None)
        if callable(shutting_down):
            shutting_down()
