"""A decision crosses two provinces whose LGSPs speak different dialects: Duy Xuyên
(Quảng Nam) sends through Quảng Nam's WSO2 gateway (OAuth2 client credentials, a
per-unit secret); the gateway relays it to the national axis (VDXP, HMAC-signed
headers); another province's token-login LGSP brings it down to its office, which
polls with its own client. The signed receipt (01) and acceptance (03) travel back the
same way. Everything runs over real HTTP on 127.0.0.1.

Run: python examples/lgsp_dialects.py
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from pathlib import Path
from typing import Any

import waitress

from docflow.emulators import (
    AxisApp,
    AxisSystem,
    LgspAccount,
    TokenLgspApp,
    Wso2App,
    Wso2Consumer,
)
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.samples import sample_envelope
from docflow.security import TrustPolicy, TrustStore, create_ca, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import TokenLgspClient, VxpClient, Wso2Client

home = Path(tempfile.mkdtemp(prefix="docflow-dialects-"))
now = dt.datetime.now(dt.UTC)
AXIS, QN_GATEWAY, FAR_LGSP = "000.00.00.G22", "000.00.90.H41", "000.00.90.H20"
DUY_XUYEN = OrganInfo(OrganCode("000.00.10.H41"), "UBND huyện Duy Xuyên")
FAR = OrganInfo(OrganCode("000.00.00.H20"), "Văn phòng UBND tỉnh (LGSP token)")
stores: list[Store] = []


def store(name: str) -> Store:
    stores.append(Store.open(sqlite_url(home / f"{name}.db")))
    return stores[-1]


def serve(app: Any) -> str:
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return f"http://127.0.0.1:{server.effective_port}/"


# The national axis knows each LGSP as a relaying system: the operator says which
# organs each relays for (serves) and lets it register them (register).
axis_url = serve(AxisApp(AXIS, store("axis"), [
    AxisSystem("lgsp.qnam", "qn-axis-secret", "LGSP Quảng Nam", relay=True,
               organs=(QN_GATEWAY,), serves=("*.*.*.H41",), register=True),
    AxisSystem("lgsp.far", "far-axis-secret", "LGSP (token)", relay=True,
               organs=(FAR_LGSP,), serves=("*.*.*.H20",), register=True)]))
up_qn = VxpClient(axis_url, "lgsp.qnam", "qn-axis-secret", organ=QN_GATEWAY)
up_far = VxpClient(axis_url, "lgsp.far", "far-axis-secret", organ=FAR_LGSP)

consumer = Wso2Consumer("example-consumer-key", "example-consumer-secret")
gateway = Wso2App(QN_GATEWAY, store("gateway"), [
    AxisSystem("duy-xuyen", "duy-xuyen-unit-secret", organs=(str(DUY_XUYEN.code),))],
    [consumer], parent=up_qn)
account = LgspAccount("vanthu", "example-password", "EOFFICE")
far_lgsp = TokenLgspApp(FAR_LGSP, store("far-lgsp"), [
    AxisSystem("H20.VP.001", "far-unit-secret", organs=(str(FAR.code),))], [account],
    parent=up_far)
gateway_url, far_url = serve(gateway), serve(far_lgsp)
# Each LGSP makes its organs known to the axis, under itself.
up_qn.register_agency(DUY_XUYEN.code, DUY_XUYEN.name, parent=QN_GATEWAY)
up_far.register_agency(FAR.code, FAR.name, parent=FAR_LGSP)

ca = create_ca("Example CA", now=now)
trust = TrustStore([ca.certificate])
duy_xuyen = Node(DUY_XUYEN, issue_certificate(ca, DUY_XUYEN.code, DUY_XUYEN.name, now=now),
                 trust, store("duy-xuyen"),
                 Wso2Client(gateway_url, consumer.key, consumer.secret,
                            "duy-xuyen-unit-secret"))
far = Node(FAR, issue_certificate(ca, FAR.code, FAR.name, now=now), trust, store("far"),
           TokenLgspClient(far_url, "H20.VP.001", "far-unit-secret", username=account.username,
                           password=account.password,
                           application_code=account.application_code),
           axis_trust=TrustPolicy.CHANNEL)

decision = sample_envelope(sender=DUY_XUYEN, recipients=(FAR,))
ref = duy_xuyen.send(decision.info, decision.attachments).document_ref
duy_xuyen.deliver()                               # POST vanbans at the WSO2 gateway
print("relayed up, then down:", gateway.forward(), far_lgsp.forward())
print("far office polls:", far.poll_axis())       # syncReceivedEdocList, getEdoc, store
(received,) = far.inbox().items
print(f"received from {received.sender}: signature {received.signature}")
far.accept(received.id)
far.deliver()                                     # its 01 and 03, through its LGSP
print("relayed back:", far_lgsp.forward(), gateway.forward())
print("Duy Xuyên polls:", duy_xuyen.poll_axis())  # GET vanbans, its 01 and 03
copy = next(d for d in duy_xuyen.store.queries.deliveries(document_ref=ref).items
            if d.kind == "document")
print(f"copy to {copy.recipient}: {copy.transport_state}, {copy.business_state}")
assert (copy.transport_state, copy.business_state) == ("acknowledged", "accepted")

for opened in stores:
    opened.close()
