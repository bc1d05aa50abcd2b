"""Desktop notifications: freedesktop D-Bus (through jeepney), tray balloon as the fallback.

Why jeepney: QtDBus in PySide6 cannot marshal ``Notify``'s ``susssasa{sv}i`` signature, and
spawning ``notify-send`` per alert costs a process. The call runs on one worker thread so a slow
or hung notification daemon never blocks the GUI; results come back through a queued signal.

When the session has no notification service (no session bus, nobody owns
``org.freedesktop.Notifications``, or the call fails), the message goes to the tray icon's balloon
(``QSystemTrayIcon.showMessage``); with no tray either, it is only logged (the Alerts tab still
lists it). After a D-Bus failure the balloon is used for ``RETRY_SECONDS`` before D-Bus is tried
again, so a daemon started later is picked up.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from perfdeck.model.settings import APP_ID

# jeepney and concurrent.futures are imported by the first notification: most runs never fire an
# alert, and the window starts without them.
if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from jeepney.io.blocking import DBusConnection

log = logging.getLogger(__name__)

NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
NOTIFICATIONS_NAME = "org.freedesktop.Notifications"  # the bus name and the interface
RETRY_SECONDS = 60.0
URGENCY_LOW, URGENCY_NORMAL, URGENCY_CRITICAL = 0, 1, 2


class NotificationError(Exception):
    """The notification could not be delivered over D-Bus; the message says why."""


class DBusNotifier:
    """Blocking client of ``org.freedesktop.Notifications``. Use from one thread only.

    The connection is opened on first use and reopened once if it broke.
    """

    def __init__(self, app_name: str = "PerfDeck", timeout: float = 3.0) -> None:
        self.app_name = app_name
        self.timeout = timeout
        self._conn: DBusConnection | None = None

    def _connection(self) -> DBusConnection:
        from jeepney.io.blocking import open_dbus_connection

        if self._conn is None:
            try:
                self._conn = open_dbus_connection(bus="SESSION")
            except KeyError as exc:  # jeepney: DBUS_SESSION_BUS_ADDRESS is not set
                raise NotificationError("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)") from exc
            except (OSError, TimeoutError, ValueError) as exc:
                raise NotificationError(f"cannot connect to the D-Bus session bus: {exc}") from exc
        return self._conn

    def notify(self, summary: str, body: str = "", replaces_id: int = 0, urgency: int = URGENCY_NORMAL,
               expire_ms: int = -1, icon: str = APP_ID) -> int:
        """Send one notification; returns the id the server gave it (for ``replaces_id``)."""
        from jeepney import DBusAddress, DBusErrorResponse, MessageType, new_method_call

        hints = {"urgency": ("y", urgency), "desktop-entry": ("s", APP_ID)}
        address = DBusAddress(NOTIFICATIONS_PATH, bus_name=NOTIFICATIONS_NAME, interface=NOTIFICATIONS_NAME)
        message = new_method_call(address, "Notify", "susssasa{sv}i",
                                  (self.app_name, replaces_id, icon, summary, body, [], hints, expire_ms))
        for attempt in (1, 2):
            conn = self._connection()
            try:
                reply = conn.send_and_get_reply(message, timeout=self.timeout)
            except (OSError, ConnectionError) as exc:
                self.close()
                if attempt == 2:
                    raise NotificationError(f"D-Bus connection failed: {exc}") from exc
                continue
            except TimeoutError as exc:
                raise NotificationError(
                    f"the notification service did not answer within {self.timeout:g} s") from exc
            if reply.header.message_type == MessageType.error:
                error = reply.header.fields.get(4, "")  # HeaderFields.error_name
                detail = reply.body[0] if reply.body else ""
                raise NotificationError(f"the notification service refused: {error} {detail}".strip())
            try:
                return int(reply.body[0])
            except (IndexError, TypeError, ValueError, DBusErrorResponse) as exc:
                raise NotificationError(f"unexpected reply from the notification service: {reply.body!r}") \
                    from exc
        raise NotificationError("D-Bus connection failed")  # not reached: the loop returns or raises

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None


class Notifier(QObject):
    """Sends notifications from the GUI thread without blocking it.

    ``notify(key, summary, body)``: ``key`` identifies the alert (rule and series), so the
    "cleared" notification replaces the "fired" one on servers that support it.

    Signals:
        delivered(str method, str summary): ``method`` is ``"dbus"``, ``"balloon"`` or ``"log"``.
    """

    delivered = Signal(str, str)
    _done = Signal(object, str, str, str, object)  # key, summary, body, error, server id

    def __init__(self, tray: QSystemTrayIcon | None = None, dbus: DBusNotifier | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tray = tray
        self._dbus = dbus if dbus is not None else DBusNotifier()
        self._executor: ThreadPoolExecutor | None = None
        self._ids: dict[object, int] = {}
        self._dbus_failed_at: float | None = None
        self.last_error = ""
        self._done.connect(self._on_done)  # queued: emitted from the worker thread

    def notify(self, key: object, summary: str, body: str = "", urgency: int = URGENCY_NORMAL) -> None:
        if self._dbus_failed_at is not None and time.monotonic() - self._dbus_failed_at < RETRY_SECONDS:
            self._fallback(summary, body)
            return
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="perfdeck-notify")
        replaces = self._ids.get(key, 0)
        future = self._executor.submit(self._dbus.notify, summary, body, replaces, urgency)

        def finished(f: Future[int]) -> None:
            error, server_id = "", None
            try:
                server_id = f.result()
            except NotificationError as exc:
                error = str(exc)
            except Exception as exc:  # never let a worker exception vanish silently
                error = f"{type(exc).__name__}: {exc}"
            self._done.emit(key, summary, body, error, server_id)

        future.add_done_callback(finished)

    def _on_done(self, key: object, summary: str, body: str, error: str, server_id: object) -> None:
        if error:
            if self._dbus_failed_at is None:
                log.warning("desktop notification failed (%s); using the tray balloon", error)
            self.last_error = error
            self._dbus_failed_at = time.monotonic()
            self._fallback(summary, body)
            return
        self._dbus_failed_at = None
        if isinstance(server_id, int) and server_id > 0:
            self._ids[key] = server_id
        self.delivered.emit("dbus", summary)

    def _fallback(self, summary: str, body: str) -> None:
        tray = self.tray
        if tray is not None and tray.isVisible() and QSystemTrayIcon.isSystemTrayAvailable():
            tray.showMessage(summary, body, QSystemTrayIcon.MessageIcon.Warning, 10000)
            self.delivered.emit("balloon", summary)
        else:
            log.warning("alert (no notification service and no tray): %s: %s", summary, body)
            self.delivered.emit("log", summary)

    def shutdown(self) -> None:
        """Stop the worker thread and close the D-Bus connection (safe to call twice)."""
        if self._executor is not None:
            self._executor.submit(self._dbus.close)
            self._executor.shutdown(wait=False, cancel_futures=False)
            self._executor = None
