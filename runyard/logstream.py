"""Following a run's live log: over the websocket when ``websockets`` is installed, else by polling.

The websocket (``/ws/runs/<id>/?after=<seq>``) sends the backlog after ``after`` and then
live lines with no gap and no duplicate; a status message with a terminal status comes
after the last line. A dropped connection reconnects from the last sequence number seen;
after repeated failures, or without ``websockets``, ``GET /api/runs/<id>/logs/?after=``
is polled instead. Either way each line is handed to ``on_line`` exactly once, in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from runyard.http import Client

TERMINAL = ("Completed", "Failed", "Canceled")
LineHandler = Callable[[dict[str, Any]], None]
StatusHandler = Callable[[dict[str, Any]], None]


def websocket_url(client: Client, run_id: int | str, after: int) -> str:
    base = client.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{base}/ws/runs/{run_id}/?after={after}"


class LogFollower:
    """Hands every log line of a run after ``after`` to ``on_line`` until the run ends."""

    def __init__(
        self,
        client: Client,
        run_id: int | str,
        on_line: LineHandler,
        on_status: StatusHandler | None = None,
        after: int = 0,
        poll_interval: float = 0.5,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.on_line = on_line
        self.on_status = on_status
        self.last_seq = after
        self.poll_interval = poll_interval
        self.status: dict[str, Any] = {}
        self.transport = ""

    def _deliver(self, lines: list[dict[str, Any]]) -> None:
        for line in lines:
            if line["seq"] > self.last_seq:
                self.last_seq = line["seq"]
                self.on_line(line)

    def _set_status(self, status: dict[str, Any]) -> None:
        if status.get("status") != self.status.get("status") and self.on_status:
            self.on_status(status)
        self.status = status

    @property
    def finished(self) -> bool:
        return self.status.get("status") in TERMINAL

    def follow(self) -> dict[str, Any]:
        """Block until the run ends; return its last status payload."""
        try:
            import websockets.sync.client  # noqa: F401
        except ImportError:
            return self.poll()
        failures = 0
        while failures < 3:
            try:
                if self._follow_websocket():
                    return self.status
                failures = 0
            except Exception:
                failures += 1
                time.sleep(min(0.5 * 2**failures, 5))
        return self.poll()

    def _follow_websocket(self) -> bool:
        """One connection; True when the run ended and every line was delivered."""
        self.transport = "websocket"
        with self._connect() as socket:
            catch_up_to: int | None = None  # once the run ended: its last sequence number
            idle = 0.0
            while True:
                try:
                    raw = socket.recv(timeout=5)
                except TimeoutError:
                    idle += 5
                    if idle >= 15:  # quiet: make sure the run has not ended unseen
                        idle = 0.0
                        catch_up_to = self._ended_at(catch_up_to)
                    if catch_up_to is not None and self.last_seq >= catch_up_to:
                        return True
                    continue
                idle = 0.0
                ended, catch_up_to = self._handle(json.loads(raw), catch_up_to)
                if ended or (catch_up_to is not None and self.last_seq >= catch_up_to):
                    return True

    def _connect(self) -> Any:
        from websockets.sync.client import connect

        headers = {"Authorization": f"Token {self.client.token}"} if self.client.token else {}
        url = websocket_url(self.client, self.run_id, self.last_seq)
        try:
            return connect(url, additional_headers=headers, open_timeout=15, max_size=2**24)
        except TypeError:  # websockets < 14 names it extra_headers (a token in the URL would reach logs)
            return connect(url, extra_headers=headers, open_timeout=15, max_size=2**24)

    def _ended_at(self, catch_up_to: int | None) -> int | None:
        details = self.client.get(f"/api/runs/{self.run_id}/")
        self._set_status(details)
        return int(details.get("log_seq") or 0) if self.finished else catch_up_to

    def _handle(self, message: dict[str, Any], catch_up_to: int | None) -> tuple[bool, int | None]:
        """Deliver one websocket message; (the run ended with its last line seen, catch-up target)."""
        kind = message.get("type")
        if kind == "logs":
            self._deliver(message.get("lines", []))
        elif kind == "status":
            self._set_status(message.get("run", {}))
            if self.finished and message.get("previous") is not None:
                return True, catch_up_to  # a live terminal status comes after the final lines
            if self.finished:  # the run had already ended when we connected: read to its last line
                catch_up_to = int(self.client.get(f"/api/runs/{self.run_id}/").get("log_seq") or 0)
        return False, catch_up_to

    def poll(self) -> dict[str, Any]:
        self.transport = "polling"
        while True:
            page = self.client.get(f"/api/runs/{self.run_id}/logs/", after=self.last_seq, limit=5000)
            lines = page.get("lines", [])
            self._deliver(lines)
            if page.get("status") != self.status.get("status"):
                self._set_status(self.client.get(f"/api/runs/{self.run_id}/"))
            if page.get("status") in TERMINAL and not lines:
                self._set_status(self.client.get(f"/api/runs/{self.run_id}/"))
                return self.status
            if not lines:
                time.sleep(self.poll_interval)
