"""``meltano config test``: check the settings and the queues without receiving a message.

Meltano tests an extractor by running it until its first RECORD and then terminating it; a
run that ends without one fails the test. A real run would receive messages (hiding them for
``visibility_timeout``, counting a receive towards the redrive policy) and, with ``on_emit``,
delete some, for output Meltano throws away. So under ``config test`` the tap validates its
settings and stream maps as always, checks that the queues answer, receives nothing, and
emits one probe record through the stream maps. Meltano passes no argument that says it is
testing, so the tap reads its parent's command line (``/proc``, Linux).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

PROBE_ID = "meltano-config-test"


def under_meltano_config_test() -> bool:
    """Whether Meltano started the tap for ``meltano config test``."""
    if "MELTANO_EXTRACTOR_NAME" not in os.environ:
        return False
    try:
        argv = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [arg for arg in argv if arg and not arg.startswith(b"-")]
    return any(words[i : i + 2] == [b"config", b"test"] for i in range(len(words)))


def probe_record(properties: Iterable[str], visible: int) -> dict[str, Any]:
    """The record a config test emits, every other property null: not a message, it says so."""
    sent_at = datetime.now(timezone.utc)
    return {
        **dict.fromkeys(properties),
        "message_id": PROBE_ID,
        "sent_at": sent_at,
        "sent_date": sent_at.date().isoformat(),
        "receive_count": 0,
        "rejection_reason": f"not a message: the probe of meltano config test ({visible} "
        "messages visible on the queue, none received)",
    }
