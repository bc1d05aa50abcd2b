"""What one poll of a snapshot source gives the window (no Qt, no network imports).

It lives apart from ``model.remote`` so the local window, which never polls an agent, does not
import the HTTP and TLS stack (``http.client``, ``ssl`` and libcrypto: about 5 MiB resident) just
to name this small type. ``model.remote`` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfdeck.model.series import Snapshot

if TYPE_CHECKING:
    from perfdeck.model.remote import RemoteStatus


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll gives the window: snapshots to append (oldest first), a status when it
    changed (None: unchanged) and the seconds until the next poll (None: the caller's interval)."""

    snapshots: tuple[Snapshot, ...] = ()
    status: RemoteStatus | None = None
    next_delay: float | None = None
