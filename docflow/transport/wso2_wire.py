"""Quảng Nam's WSO2 gateway's (``wso2``) wire shapes, written once for both of its
sides: the client (:class:`~docflow.transport.Wso2Client`) reads them, the emulator
(:class:`~docflow.emulators.Wso2App`) writes them. An answer's envelope
(:func:`ok_answer`, :func:`succeeded`) and an item of ``GET vanbans``
(:class:`ReceivedItem`). Where each parameter travels is the other shared shape:
:class:`~docflow.transport.Wso2Profile`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docflow.transport._http import WaitingItem

__all__ = ["ReceivedItem", "ok_answer", "succeeded"]


def ok_answer(data: Mapping[str, Any]) -> dict[str, Any]:
    """A successful answer carrying ``data`` (``status`` OK, ``errorCode`` 0)."""
    return {"status": "OK", "errorCode": "0", "errorDesc": "", **data}


def succeeded(answer: Mapping[str, Any], http_status: int) -> bool:
    """Whether an answer says the operation was done: an HTTP status below 400, a
    ``status`` the gateways in use write for success (``OK``, ``SUCCESS``, ``200``) and
    no ``errorCode`` but 0."""
    return http_status < 400 and str(answer.get("status", "")).upper() in (
        "OK", "SUCCESS", "200") and str(answer.get("errorCode", "0")) in ("0", "")


@dataclass(frozen=True)
class ReceivedItem(WaitingItem):
    """A packet waiting for a unit (an item of ``GET vanbans``): its ``docId`` (a UUID),
    who sent it, to whom, the gateway's word on it (``INITIAL``, ``PROCESSING``), when it
    was queued, and ``edoc`` or ``status``."""

    def wire(self) -> dict[str, str]:
        """The item as the gateway lists it."""
        return {"serviceType": "edoc", "messageType": self.message_type,
                "statusDesc": self.status, "docId": self.doc_id, "from": self.sender,
                "to": self.to, "status": self.status, "createdTime": self.created}

    @classmethod
    def read(cls, doc_id: str, item: Mapping[str, Any]) -> ReceivedItem:
        """An item as the gateway listed it (``doc_id`` checked by the caller)."""
        return cls(doc_id, str(item.get("from", "")), str(item.get("to", "")),
                   str(item.get("status", "")), str(item.get("createdTime", "")),
                   str(item.get("messageType", "edoc")))
