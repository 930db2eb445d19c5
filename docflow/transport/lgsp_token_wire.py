"""The token-login REST LGSP's (``lgsp-token``) wire shapes, written once for both of
its sides: the client (:class:`~docflow.transport.TokenLgspClient`) reads them, the
emulator (:class:`~docflow.emulators.TokenLgspApp`) writes them. The waiting list's
answer (:func:`listing`, :func:`listed_ok`) and its items (:class:`ReceivedItem`), with
the keys the vendor client reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docflow.transport._http import WaitingItem

__all__ = ["ReceivedItem", "listed_ok", "listing"]


def listing(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The answer of ``syncReceivedEdocList``: success, a message, the count, the items."""
    return {"success": True, "message": "OK", "count": len(items), "data": list(items)}


def listed_ok(answer: Mapping[str, Any]) -> bool:
    """Whether a list answer says it succeeded (``success`` true)."""
    return bool(answer.get("success"))


@dataclass(frozen=True)
class ReceivedItem(WaitingItem):
    """A packet waiting at the LGSP for a unit (an item of ``syncReceivedEdocList``): its
    ``docId``, who sent it, to whom, the platform's word on it (``initial``,
    ``processing``), when it was queued, and ``edoc`` or ``status``."""

    def wire(self) -> dict[str, str]:
        """The item as the LGSP lists it."""
        return {"serviceType": "edoc", "createdTime": self.created,
                "updatedTime": self.created, "messageType": self.message_type,
                "docId": self.doc_id, "from": self.sender, "to": self.to,
                "status": self.status, "statusDesc": self.status}

    @classmethod
    def read(cls, doc_id: str, item: Mapping[str, Any]) -> ReceivedItem:
        """An item as the LGSP listed it (``doc_id`` checked by the caller)."""
        return cls(doc_id, str(item.get("from", "")), str(item.get("to", "")),
                   str(item.get("status", "")), str(item.get("createdTime", "")),
                   str(item.get("messageType", "")) or "edoc")
