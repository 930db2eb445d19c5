"""Two organs exchange a signed decision and its receipt through a national-axis / LGSP
emulator over real HTTP on 127.0.0.1, with the same client a vendor points at the real
axis (``VxpClient``: XroadVnpt-* headers, HMAC-SHA256).

Run: python examples/national_axis.py
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from pathlib import Path

import waitress

from docflow.emulators import AxisApp, AxisSystem
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import TrustStore, create_ca, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import VxpClient

home = Path(tempfile.mkdtemp(prefix="docflow-axis-"))
now = dt.datetime.now(dt.UTC)

# The axis operator issues a (system id, secret) pair to each organ's system.
secrets = {PROVINCE.code: "province-secret", TAM_KY.code: "tam-ky-secret"}
axis_store = Store.open(sqlite_url(home / "axis.db"))
axis = AxisApp("000.00.00.G22", axis_store,
               [AxisSystem(str(code), secret) for code, secret in secrets.items()])
server = waitress.create_server(axis, host="127.0.0.1", port=0, threads=4)
url = f"http://127.0.0.1:{server.effective_port}/"
threading.Thread(target=server.run, daemon=True).start()

ca = create_ca("Quảng Nam province CA (example)", now=now)
trust = TrustStore([ca.certificate])
nodes = {}
for organ in (PROVINCE, TAM_KY):
    client = VxpClient(url, str(organ.code), secrets[organ.code], timeout=10)
    nodes[organ.code] = Node(organ, issue_certificate(ca, organ.code, organ.name, now=now),
                             trust, Store.open(sqlite_url(home / f"{organ.code}.db")), client)
province, district = nodes[PROVINCE.code], nodes[TAM_KY.code]

decision = sample_envelope()
ref = province.send(decision.info, decision.attachments).document_ref
province.deliver()                      # sendEdoc: queued at the axis
print("district polls:", district.poll_axis())   # getReceivedEdocList, getEdoc, store, done
district.deliver()                      # its signed receipt (01) goes back via sendEdoc
print("province polls:", province.poll_axis())   # the receipt: acknowledged and arrived
copy = province.store.queries.deliveries(document_ref=ref).items[0]
print(f"copy to {copy.recipient}: {copy.transport_state}, {copy.business_state}")
assert (copy.transport_state, copy.business_state) == ("acknowledged", "arrived")

for node in nodes.values():
    node.store.close()
