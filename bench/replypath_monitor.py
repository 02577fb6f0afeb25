"""Child process of `bench.replypath`: follows Redis's MONITOR feed and counts the commands, by name, sent by
clients and run by Lua scripts; each line `snapshot` on stdin is answered with the counts so far, as one JSON line.
A snapshot first sends a marker (ECHO, not counted) and waits until the feed shows it: every command Redis ran
before the snapshot was asked for is in it.

    python -m bench.replypath_monitor redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import collections
import json
import sys
import threading

import redis


def main() -> int:
    client = redis.Redis.from_url(sys.argv[1], decode_responses=True)
    counts: dict[str, collections.Counter[str]] = {"sent": collections.Counter(), "in_scripts": collections.Counter()}
    lock = threading.Lock()
    following = threading.Event()
    seen_marker = threading.Condition(lock)
    last_marker = [""]

    def follow() -> None:
        with client.monitor() as feed:
            following.set()
            for entry in feed.listen():
                command = str(entry.get("command", "?"))
                if command.startswith("ECHO bench-replypath-marker-"):
                    with lock:
                        last_marker[0] = command.split(" ", 1)[1]
                        seen_marker.notify_all()
                    continue
                kind = "in_scripts" if entry.get("client_type") == "lua" else "sent"
                with lock:
                    counts[kind][command.split(" ", 1)[0].lower()] += 1

    threading.Thread(target=follow, daemon=True).start()
    following.wait()
    marker_client = redis.Redis.from_url(sys.argv[1], decode_responses=True)
    for number, _line in enumerate(sys.stdin):
        marker = f"bench-replypath-marker-{number}"
        marker_client.echo(marker)
        with lock:
            seen_marker.wait_for(lambda marker=marker: last_marker[0] == marker, timeout=30)
            answer = json.dumps({kind: dict(counter) for kind, counter in counts.items()})
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
