"""A large packet (just under 50 MiB, the axis's limit: a 37 MiB attachment in base64)
from a province's node through the LGSP hub to a district's node over SOAP, each of the
three in its own process measuring its own peak RSS growth (``VmHWM`` minus ``VmRSS`` before
the work), next to the packet's size.

The sender builds, signs, stores and sends; the hub verifies, stores, signs its hop,
answers with its receipt and pushes on; the receiver verifies, stores and answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from benchmarks._harness import Row, sized, wait_until_served
from docflow.samples import PROVINCE, TAM_KY
from docflow.security import create_ca, issue_certificate
from tests.directories import LGSP_AND_DISTRICT

SIZE = sized(74, 14) * 512 * 1024  # 37 MiB, a packet just under 50 MiB (quick: 7 MiB, a
# packet past SPOOL_FROM, so that the quick run takes the streaming path too)
HUB = "000.00.90.H41"
NOTES: list[str] = []


COMMON = textwrap.dedent(
    """
    import json, sys, threading
    from pathlib import Path
    from docflow.routing import Directory
    from docflow.security import Credentials, TrustStore
    from docflow.store import Store, sqlite_url
    from docflow.transport import SoapApp, SoapClient, serve
    from tests.proc import status

    home, role = Path(sys.argv[1]), sys.argv[2]
    trust = TrustStore.from_paths(home / "ca.pem")
    directory = Directory.from_toml(home / "directory.toml")
    creds = Credentials.load(home / f"{role}.key", home / f"{role}.crt")
    store = Store.open(sqlite_url(home / f"{role}.db"))
    client = SoapClient(directory.addresses(), timeout=600)
    """
)

SERVER = COMMON + textwrap.dedent(
    """
    from docflow.hub import Hub
    from docflow.node import Node
    from docflow.model import OrganInfo
    port = int(sys.argv[3])
    organ = OrganInfo(creds.organ, role)
    if role == "hub":
        service = Hub(organ, creds, trust, store, client, directory)
    else:
        service = Node(organ, creds, trust, store, client, directory=directory)
    baseline = status("VmRSS")
    threading.Thread(target=serve, args=(SoapApp(service),),
                     kwargs={"port": port, "threads": 2}, daemon=True).start()
    for line in sys.stdin:  # the benchmark says what to do, then reads the figures
        if line.strip() == "deliver":
            print(json.dumps({"forwarded": service.deliver().forwarded}), flush=True)
        else:
            break
    print(json.dumps({"baseline": baseline, "peak": status("VmHWM")}), flush=True)
    """
)

SENDER = COMMON + textwrap.dedent(
    """
    from docflow.model import Attachment
    from docflow.node import Node
    from docflow.samples import PROVINCE, TAM_KY, sample_envelope
    size = int(sys.argv[3])
    node = Node(PROVINCE, creds, trust, store, client, directory=directory)
    baseline = status("VmRSS")
    envelope = sample_envelope(attachment_bytes=0)
    big = Attachment("ban-do-quy-hoach.pdf", bytes(range(256)) * (size // 256),
                     "application/pdf")
    ref = node.send(envelope.info, [big]).document_ref
    del big
    report = node.deliver()
    print(json.dumps({"baseline": baseline, "peak": status("VmHWM"),
                      "packet": len(store.queries.packet(ref)),
                      "delivered": report.delivered, "errors": list(report.errors)}))
    """
)


def _server(home: Path, role: str, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(home), role, str(port)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_until_served(f"http://127.0.0.1:{port}/", process, role)
    return process


def _finish(process: subprocess.Popen[str]) -> dict[str, int]:
    out, err = process.communicate("done\n", timeout=300)
    if process.returncode:
        raise RuntimeError(err[-2000:])
    figures: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return figures


def run() -> list[Row]:
    import datetime as dt

    from tests.postgres import free_port

    now = dt.datetime.now(dt.UTC)
    ca = create_ca("bench CA", now=now)
    with tempfile.TemporaryDirectory(prefix="docflow-bench-large-") as scratch:
        home = Path(scratch)
        (home / "ca.pem").write_bytes(ca.certificate_pem())
        for role, code, name in (("province", PROVINCE.code, PROVINCE.name),
                                 ("hub", HUB, "LGSP Quảng Nam"),
                                 ("district", TAM_KY.code, TAM_KY.name)):
            issue_certificate(ca, code, name, now=now).save(home / f"{role}.key",
                                                            home / f"{role}.crt")
        ports = {"hub": free_port(), "district": free_port()}
        (home / "directory.toml").write_text(LGSP_AND_DISTRICT.format(
            hub=HUB, province=PROVINCE.code, district=TAM_KY.code,
            hub_url=f"http://127.0.0.1:{ports['hub']}/",
            district_url=f"http://127.0.0.1:{ports['district']}/"), encoding="utf-8")
        district = _server(home, "district", ports["district"])
        hub = _server(home, "hub", ports["hub"])
        try:
            sender = subprocess.run([sys.executable, "-c", SENDER, str(home), "province",
                                     str(SIZE)], capture_output=True, text=True, timeout=900)
            if sender.returncode:
                raise RuntimeError(sender.stderr[-2000:])
            sent = json.loads(sender.stdout)
            if sent["delivered"] != 1:
                raise RuntimeError(f"the hub did not take the packet: {sent['errors']}")
            assert hub.stdin is not None and hub.stdout is not None
            hub.stdin.write("deliver\n")
            hub.stdin.flush()
            if json.loads(hub.stdout.readline())["forwarded"] != 1:
                raise RuntimeError("the hub did not push the packet on")
            relayed = _finish(hub)
            received = _finish(district)
        finally:
            for process in (hub, district):
                if process.poll() is None:
                    process.kill()
    packet = sent["packet"] / 1e6
    NOTES.append(
        f"large: one {SIZE / 1e6:.1f} MB attachment (a {packet:.1f} MB packet) from a "
        "province's node through the LGSP hub to a district's node over SOAP, each in its "
        "own process on SQLite; peak RSS growth = VmHWM after the work minus VmRSS before "
        "it. The goal (issue 31, item 5) is at most the packet's size on each side.")
    return [Row("large", f"peak RSS growth, {side}, {packet:.0f} MB packet",
                (figures["peak"] - figures["baseline"]) / 1e6, "the packet's size",
                packet, unit="MB", goal=1.0, higher_is_better=False)
            for side, figures in (("sender", sent), ("hub", relayed), ("receiver", received))]
