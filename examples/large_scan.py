"""A scanned decision of 12 MB from the province to Tam Kỳ over real SOAP on 127.0.0.1:
the streaming path (docflow.spool) end to end, and what a spool is.

The province's node signs the packet into a spool (the base64 made chunk by chunk) and
stores it from there; the district's SOAP endpoint spools the request, verifies the
packet from its skeleton and stores it from its spool. Neither holds the packet whole.

Run: python examples/large_scan.py
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from pathlib import Path

from docflow.envelope import scan
from docflow.model import Attachment
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import TrustStore, create_ca, issue_certificate, verify
from docflow.spool import Spool
from docflow.store import Store, sqlite_url
from docflow.transport import SoapApp, SoapClient, listen, shutdown


def main() -> None:
    now = dt.datetime.now(dt.UTC)
    ca = create_ca("Quảng Nam province CA (test)", now=now)
    trust = TrustStore([ca.certificate])
    scanned = bytes(range(256)) * (12 * 1024 * 4)  # 12 MiB: "ban-do-quy-hoach.pdf"
    with tempfile.TemporaryDirectory() as home:
        district = Node(TAM_KY, issue_certificate(ca, TAM_KY.code, TAM_KY.name, now=now),
                        trust, Store.open(sqlite_url(Path(home) / "district.db")),
                        SoapClient({}))
        server = listen(SoapApp(district), host="127.0.0.1", port=0, threads=2)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.effective_port}/"
        store = Store.open(sqlite_url(Path(home) / "province.db"))
        client = SoapClient({TAM_KY.code: url}, timeout=60)
        province = Node(PROVINCE, issue_certificate(ca, PROVINCE.code, PROVINCE.name,
                                                    now=now), trust, store, client)
        try:
            letter = sample_envelope(attachment_bytes=0)
            sent = province.send_now(letter.info, [Attachment("ban-do-quy-hoach.pdf",
                                                              scanned)])
            print(f"sent: {sent.report.delivered} copy, packet of "
                  f"{len(store.queries.packet(sent.record.document_ref)):,} bytes")
            (received,) = district.inbox().items
            packet = district.store.queries.packet(received.id)

            # What the node did with it, by hand: a spool, its skeleton, its verification.
            spool = Spool.from_chunks([packet])
            skeleton = scan(spool)
            print(f"spool: {len(spool):,} bytes in a temporary file; skeleton: "
                  f"{len(skeleton.xml):,} bytes with {len(skeleton.runs)} text left in it")
            verified = verify(spool, trust, now=now)
            assert verified.envelope.attachments[0].data == scanned
            print(f"verified from the spool: signed by {verified.signer}, attachment "
                  f"{verified.envelope.attachments[0].name} intact")
            spool.close()
        finally:
            client.close()
            shutdown(server)
            thread.join(timeout=5)
            store.close()
            district.store.close()


if __name__ == "__main__":
    main()
