"""Memory figures of the current process, for tests and benchmarks that measure RSS in a
fresh subprocess (VmHWM belongs to the process image: ru_maxrss is carried over exec)."""

from __future__ import annotations


def status(field: str) -> int:
    """A ``/proc/self/status`` figure in bytes: ``"VmRSS"`` (now) or ``"VmHWM"`` (peak)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)
