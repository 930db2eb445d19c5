"""An auditor's view: a node's audit chain, a signed checkpoint kept elsewhere, and a
database rewritten behind the node's back.

Run: python examples/audit_checkpoint.py
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from pathlib import Path

from sqlalchemy import text

from docflow.node import Node
from docflow.samples import PROVINCE, sample_envelope
from docflow.security import AuditCheckpoint, TrustStore, create_ca, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import InMemoryTransport


def main() -> None:
    now = dt.datetime.now(dt.UTC)
    ca = create_ca("Quảng Nam province CA (test)", now=now)
    credentials = issue_certificate(ca, PROVINCE.code, PROVINCE.name, now=now)
    trust = TrustStore([ca.certificate])
    with tempfile.TemporaryDirectory() as home:
        store = Store.open(sqlite_url(Path(home) / "province.db"))
        node = Node(PROVINCE, credentials, trust, store, InMemoryTransport())
        for number in ("4512", "4513", "4514"):
            letter = sample_envelope(number=number)
            node.send(letter.info, letter.attachments)

        # The node signs its chain's head; the auditor keeps the file.
        kept = Path(home, "checkpoint.json")
        kept.write_text(node.audit_checkpoint().to_json(), encoding="utf-8")
        print(f"checkpoint: {store.audit.head()[0]} entries signed by {PROVINCE.code}")

        # Someone with write access edits entry 2 and recomputes every hash after it
        # (the format is public), so that the chain alone verifies again.
        forge_chain_from(store, 2, '{"to": ["nobody"]}')
        alone = store.audit.verify()
        print("hashes alone:    ", alone)
        assert alone.ok  # the forgery is consistent: hashes cannot tell

        checkpoint = AuditCheckpoint.from_json(kept.read_text(encoding="utf-8"))
        report = store.audit.verify([checkpoint], trust=trust)
        print("with checkpoint: ", report)
        assert not report.ok and report.broken_at == 3
        store.close()


def forge_chain_from(store: Store, seq: int, detail: str) -> None:
    """Rewrite the audit chain from entry ``seq`` with raw SQL (an attacker's tool)."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET detail = :d WHERE seq = :s"),
                     {"d": detail, "s": seq})
        previous = "0" * 64
        rows = conn.execute(text("SELECT seq, at, organ, action, subject, detail "
                                 "FROM audit_log ORDER BY seq")).all()
        for row in rows:
            at = row.at if isinstance(row.at, str) else row.at.isoformat(sep=" ")
            moment = dt.datetime.fromisoformat(at).isoformat(timespec="microseconds")
            digest = hashlib.sha256("\n".join((previous, str(row.seq), moment, row.organ,
                                                row.action, row.subject, row.detail)
                                               ).encode()).hexdigest()
            conn.execute(text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"p": previous, "h": digest, "s": row.seq})
            previous = digest
        conn.execute(text("UPDATE audit_head SET seq = :n, hash = :h"),
                     {"n": len(rows), "h": previous})


if __name__ == "__main__":
    main()
