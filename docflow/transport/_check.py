"""``docflow axis check``: is the configured axis or LGSP channel usable? Each check is a
line a misconfigured operator can act on: the address answers, the credentials are
taken, the clocks agree (the axis refuses stale timestamps), and what waits to be
fetched. Clients only: no store, no core beyond the errors."""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from dataclasses import dataclass

import requests

from docflow.errors import DocflowError
from docflow.transport._http import network_reason
from docflow.transport._port import AxisChannel

__all__ = ["Check", "check_channel"]

#: how far apart the clocks may be before requests start to be refused as stale
SKEW_LIMIT = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def check_channel(client: AxisChannel, base_url: str, *,
                  now: dt.datetime | None = None) -> list[Check]:
    """Run the checks against ``client`` (whose address is ``base_url``)."""
    checks = []
    started = time.monotonic()
    try:
        response = requests.get(base_url, timeout=10)
    except requests.RequestException as exc:
        return [Check("reachable", False, f"{base_url}: {network_reason(exc)}")]
    elapsed = (time.monotonic() - started) * 1000
    checks.append(Check("reachable", True,
                        f"{base_url} answered HTTP {response.status_code} in {elapsed:.0f} ms"))
    stamp = response.headers.get("Date")
    if stamp:
        theirs = email.utils.parsedate_to_datetime(stamp)
        skew = (now or dt.datetime.now(dt.UTC)) - theirs
        seconds = abs(skew.total_seconds())
        side = "ahead of" if skew.total_seconds() > 0 else "behind"
        checks.append(Check("clock", abs(skew) <= SKEW_LIMIT,
                            f"this machine is {seconds:.0f} s {side} the platform"
                            + ("" if abs(skew) <= SKEW_LIMIT else
                               f" (more than {SKEW_LIMIT}: requests would be refused)")))
    else:
        checks.append(Check("clock", True, "the platform sends no Date header: not checked"))
    try:
        documents = client.received(message_type="edoc", page_size=1000)
        statuses = client.received(message_type="status", page_size=1000)
    except DocflowError as exc:
        checks.append(Check("authentication", False, exc.message))
        return checks
    checks.append(Check("authentication", True, "the credentials are accepted"))
    checks.append(Check("backlog", True, f"{len(documents)} document(s) and {len(statuses)} "
                        "status packet(s) wait to be fetched"))
    return checks
