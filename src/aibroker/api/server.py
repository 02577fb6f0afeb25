"""uvicorn's `Server`, told to end our open event streams when it is asked to stop.

uvicorn's graceful shutdown waits for every response in flight to finish before the app's lifespan ends, and a
server-sent-event stream never finishes by itself: a SIGTERM would hang until each browser hung up. The app
sets `app.state.shutting_down` (api/app.py); calling it on the exit signal ends every stream at once, and the
browsers reconnect, with `Last-Event-ID`, to another process.
"""

from __future__ import annotations

from types import FrameType

import uvicorn


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        shutting_down = getattr(getattr(self.config.app, "state", None), "shutting_down", None)
        if callable(shutting_down):
            shutting_down()
