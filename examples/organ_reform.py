"""The 2025 reform in a province's network: Tam Kỳ (a district) sends a letter to the
province, then the districts close into the province; the letter Tam Kỳ signed before
still counts, a new letter from An Mỹ (a ward) to Tam Kỳ is refused naming its
successor (or, under the "forward" policy, goes to the province), and Tam Kỳ's documents
stay readable.

Run: python examples/organ_reform.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from pathlib import Path

from docflow.errors import ClosedOrganError
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.reform import ReformPlan, apply_plan
from docflow.routing import ClosedPolicy, Directory
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import TrustStore, create_ca, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import InMemoryTransport

DIRECTORY = """
[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
level = "province"
[[organs]]
code = "000.00.01.H41"
name = "UBND thành phố Tam Kỳ"
level = "district"
[[organs]]
code = "000.01.01.H41"
name = "UBND phường An Mỹ"
level = "commune"
"""
AN_MY = OrganInfo(OrganCode("000.01.01.H41"), "UBND phường An Mỹ")


def main() -> None:
    now = dt.datetime.now(dt.UTC)
    ca = create_ca("Quảng Nam province CA (test)", now=now - dt.timedelta(hours=1))
    trust = TrustStore([ca.certificate])
    directory = Directory.from_toml_text(DIRECTORY)
    network = InMemoryTransport()
    with tempfile.TemporaryDirectory() as home:
        nodes = {}
        for organ in (PROVINCE, TAM_KY, AN_MY):
            credentials = issue_certificate(ca, organ.code, organ.name,
                                            now=now - dt.timedelta(hours=1))
            nodes[organ.code] = Node(organ, credentials, trust,
                                     Store.open(sqlite_url(Path(home) / f"{organ.code}.db")),
                                     network, directory=directory)
            network.register(organ.code, nodes[organ.code])
        province, tam_ky, an_my = (nodes[o.code] for o in (PROVINCE, TAM_KY, AN_MY))
        letter = sample_envelope(number="12", sender=TAM_KY, recipients=(PROVINCE,),
                                 date=now.date())
        sent = tam_ky.send(letter.info).document_ref
        tam_ky.deliver()
        print(f"before the reform: Tam Kỳ's letter {letter.info.code} is with the province")

        reform = apply_plan(directory, ReformPlan(effective=dt.datetime.now(dt.UTC),
                                                  dissolve=("district",)))
        for change in reform.changes:
            print(f"  {change}")
        for node in nodes.values():  # as `docflow directory sync` and a restart do
            node.directory = reform.directory

        report = sample_envelope(number="3", sender=AN_MY, recipients=(TAM_KY,),
                                 date=now.date())
        try:
            an_my.send(report.info)
        except ClosedOrganError as refused:
            print(f"refused: {refused.message}")
        forward = dataclasses.replace(reform.directory, closed_organs=ClosedPolicy.FORWARD)
        an_my.directory = forward
        record = an_my.send(report.info)
        to = [d.recipient for d in an_my.store.queries.deliveries(
            document_ref=record.document_ref).items]
        an_my.deliver()
        arrived = province.inbox().items[0]  # the newest
        print(f"under the forward policy the letter goes to {', '.join(to)}: the province "
              f"holds {arrived.code} from {arrived.sender}")
        print(f"Tam Kỳ's own letter is still readable: {tam_ky.stored(sent).info.subject!r}")
        answering = forward.successor(TAM_KY.code, dt.datetime.now(dt.UTC))
        print(f"who answers for Tam Kỳ now: {answering}")
        for node in nodes.values():
            node.close()


if __name__ == "__main__":
    main()
