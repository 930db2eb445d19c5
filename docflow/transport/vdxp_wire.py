"""The national axis's (``vdxp``) wire shapes, written once for both of its sides: the
client (:class:`~docflow.transport.VxpClient`) reads them, the emulator
(:class:`~docflow.emulators.AxisApp`) writes them. An answer's envelope
(:func:`ok_answer`, :func:`error_answer`, :func:`succeeded`), an item of
``getReceivedEdocList`` (:class:`ReceivedItem`) and of ``getSentEdocList``
(:class:`SentItem`), each with the keys the official SDK reads; a change to a key is made
here, on both sides at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ReceivedItem", "SentItem", "error_answer", "ok_answer", "succeeded"]


def ok_answer(data: Mapping[str, Any]) -> dict[str, Any]:
    """A successful answer carrying ``data`` (``status`` OK, ``ErrorCode`` 0; the SDK
    reads ``DocId`` from every answer)."""
    return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocId": "", **data}


def error_answer(code: str, message: str) -> dict[str, Any]:
    """A refusal (``status`` FAIL, the axis's ``ErrorCode`` and ``ErrorDesc``; ``DocId``
    present, empty: the SDK reads it from errors too)."""
    return {"status": "FAIL", "ErrorCode": code, "ErrorDesc": message, "DocId": ""}


def succeeded(answer: Mapping[str, Any]) -> bool:
    """Whether an answer says the operation was done (``status`` OK, ``ErrorCode`` 0)."""
    return answer.get("status") == "OK" and str(answer.get("ErrorCode", "0")) == "0"


@dataclass(frozen=True)
class ReceivedItem:
    """A packet waiting at the axis for an organ (an item of ``getReceivedEdocList``):
    its ``docId``, who sent it, to whom, ``edoc`` or ``status``, the transport's word on
    it (``pending``, ``processing``) and when it was queued (the axis's local time)."""

    doc_id: str
    sender: str
    to: str
    message_type: str
    status: str
    created: str

    def wire(self) -> dict[str, str]:
        """The item as the axis lists it."""
        return {"docId": self.doc_id, "from": self.sender, "to": self.to,
                "messageType": self.message_type, "serviceType": "edoc",
                "status": self.status, "status_desc": self.status,
                "created_time": self.created, "updated_time": self.created}

    @classmethod
    def read(cls, doc_id: str, item: Mapping[str, Any]) -> ReceivedItem:
        """An item as the axis listed it (``doc_id`` checked by the caller)."""
        return cls(doc_id, str(item.get("from", "")), str(item.get("to", "")),
                   str(item.get("messageType", "")), str(item.get("status", "")),
                   str(item.get("created_time", "")))


@dataclass(frozen=True)
class SentItem:
    """One copy of a packet an organ sent (an item of ``getSentEdocList``): the sender's
    and the receiver's ``docId``, the recipient, its receive status and the transport's
    send status. The emulator also writes what the SDK shows (``extra``: sender, title,
    notation, times)."""

    sender_doc_id: str
    receiver_doc_id: str
    to: str
    receive_status: str
    send_status: str

    def wire(self, **extra: str) -> dict[str, str]:
        """The item as the axis lists it, with the fields only people read."""
        return {"senderDocId": self.sender_doc_id, "receiverDocId": self.receiver_doc_id,
                "toCode": self.to, "serviceType": "edoc", "messageType": "edoc", **extra,
                "receiveStatus": self.receive_status,
                "receiveStatusDesc": self.receive_status,
                "sendStatus": self.send_status, "sendStatusDesc": self.send_status}

    @classmethod
    def read(cls, item: Mapping[str, Any]) -> SentItem:
        """An item as the axis listed it."""
        return cls(str(item.get("senderDocId", "")), str(item.get("receiverDocId", "")),
                   str(item.get("toCode", "")), str(item.get("receiveStatus", "")),
                   str(item.get("sendStatus", "")))
