"""How ``docflow serve`` logs: timestamps in the node's zone with their offset, levels,
one logger per loop (``docflow.outbox``, ``docflow.pull``, ``docflow.axis``,
``docflow.checkpoint``, ``docflow.serve``), to stderr or a file, as text or JSON lines."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

__all__ = ["LEVELS", "configure_logging"]

LEVELS = ("debug", "info", "warning", "error")


class _Formatter(logging.Formatter):
    def __init__(self, zone: dt.tzinfo, as_json: bool):
        super().__init__()
        self.zone, self.as_json = zone, as_json

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return dt.datetime.fromtimestamp(record.created, self.zone).isoformat(
            timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        when, message = self.formatTime(record), record.getMessage()
        if self.as_json:
            line = {"time": when, "level": record.levelname.lower(), "logger": record.name,
                    "message": message}
            if record.exc_info:
                line["exception"] = self.formatException(record.exc_info)
            return json.dumps(line, ensure_ascii=False)
        text = f"{when} {record.levelname:<7} {record.name}: {message}"
        return text + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


def configure_logging(level: str, *, file: Path | None, as_json: bool,
                      zone: dt.tzinfo) -> logging.Handler:
    """Send docflow's and waitress's records at ``level`` and above to ``file`` (appended;
    default stderr); returns the handler (removed again by the caller when done)."""
    handler: logging.Handler = (logging.FileHandler(file, encoding="utf-8") if file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(_Formatter(zone, as_json))
    for name in ("docflow", "waitress"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(getattr(logging, level.upper()))
        logger.propagate = False
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth"
    return handler
