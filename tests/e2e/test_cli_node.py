"""A scripted session through the real entry point: a CA, two node homes (`docflow
init`), both nodes served (`docflow serve`, SOAP + outbox worker), a letter sent, accepted
at the district, the 03 flowing back by the district's own worker, a clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from docflow.config import load_config
from docflow.node import Node
from docflow.samples import sample_envelope
from docflow.store import Store
from tests.postgres import PostgresCluster, free_port

DOCFLOW = Path(sys.executable).with_name("docflow")
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(DOCFLOW), *args], capture_output=True, text=True, env=ENV,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def serve_homes(base: Path, urls: dict[str, str]) -> dict[str, subprocess.Popen[str]]:
    """`docflow serve` each home under ``base`` (named as in ``urls``); wait until all
    answer."""
    servers = {name: subprocess.Popen([str(DOCFLOW), "serve", "--home", str(base / name)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=ENV) for name in urls}
    try:
        for name in servers:
            wait_for(lambda name=name: up(urls[name]))
    except AssertionError:
        for process in servers.values():
            process.kill()
            process.communicate(timeout=30)
        raise
    return servers


def up(url: str) -> bool:
    try:
        return requests.get(url + "?wsdl", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def two_homes(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A CA and two node homes under ``tmp_path`` (`province`, `district`), each the
    other's peer on a free port: their URLs and organ codes."""
    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    ports = {"province": free_port(), "district": free_port()}
    urls = {name: f"http://127.0.0.1:{port}/" for name, port in ports.items()}
    codes = {"province": "000.00.00.H41", "district": "000.00.01.H41"}
    for me, other in (("province", "district"), ("district", "province")):
        run("init", str(tmp_path / me), "--organ", codes[me], "--name", f"UBND {me}",
            "--ca", str(tmp_path / "ca"), "--port", str(ports[me]),
            "--peer", f"{codes[other]}={urls[other]}")
    return urls, codes


def test_two_served_nodes_exchange_a_letter_and_its_status(tmp_path: Path) -> None:
    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    ports = {"province": free_port(), "district": free_port()}
    urls = {name: f"http://127.0.0.1:{port}/" for name, port in ports.items()}
    codes = {"province": "000.00.00.H41", "district": "000.00.01.H41"}
    names = {"province": "Ủy ban nhân dân tỉnh Quảng Nam",
             "district": "Ủy ban nhân dân thành phố Tam Kỳ"}
    for me, other in (("province", "district"), ("district", "province")):
        run("init", str(tmp_path / me), "--organ", codes[me], "--name", names[me],
            "--ca", str(tmp_path / "ca"), "--port", str(ports[me]),
            "--peer", f"{codes[other]}={urls[other]}")
    shown = run("pki", "show", str(tmp_path / "district" / "keys" / "organ.crt")).stdout
    assert "organ:    000.00.01.H41" in shown
    servers = serve_homes(tmp_path, urls)
    try:
        # The province's clerk sends through its node (the served process delivers it).
        province = Node.from_config(load_config(tmp_path / "province"))
        letter = sample_envelope()
        ref = province.send(letter.info, letter.attachments).document_ref
        district_db = load_config(tmp_path / "district").database
        with Store(district_db) as district_store:
            wait_for(lambda: district_store.queries.documents(direction="in").total == 1)
            (document,) = district_store.queries.documents(direction="in").items
        district = Node.from_config(load_config(tmp_path / "district"))
        district.accept(document.id)  # the served district's worker sends the 03 back
        wait_for(lambda: province.store.queries.deliveries(document_ref=ref).items[0].business_state
                 == "accepted")
        for node in (province, district):
            assert node.store.audit.verify().ok
            node.store.close()
    finally:
        for process in servers.values():
            process.send_signal(signal.SIGTERM)
        outputs = {name: process.communicate(timeout=60) for name, process in servers.items()}
    for name, process in servers.items():
        assert process.returncode == 0, outputs[name]
        assert "docflow node stopped" in outputs[name][1]


def test_axis_serve_in_a_process(tmp_path: Path) -> None:
    from docflow.samples import PROVINCE, TAM_KY
    from docflow.transport import VxpClient

    (tmp_path / "systems.toml").write_text(
        '[[systems]]\nsystem_id = "000.00.00.H41"\nsecret = "p"\nname = "UBND tỉnh"\n'
        '[[systems]]\nsystem_id = "000.00.01.H41"\nsecret = "d"\n', encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [str(DOCFLOW), "axis", "serve", "--systems", str(tmp_path / "systems.toml"),
         "--database", f"sqlite:///{tmp_path / 'axis.db'}", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    url = f"http://127.0.0.1:{port}/"
    province = VxpClient(url, str(PROVINCE.code), "p", timeout=10)
    district = VxpClient(url, str(TAM_KY.code), "d", timeout=10)
    try:
        def answering() -> bool:
            try:
                return requests.post(url + "echo", data=b"x", timeout=1).content == b"x"
            except requests.ConnectionError:
                return False

        wait_for(answering)
        from docflow.envelope import build_envelope

        packet = build_envelope(sample_envelope())
        province.send_edoc(packet, to=[TAM_KY.code])
        (item,) = district.received()
        assert district.get_edoc(item.doc_id) == packet
        district.update_status(item.doc_id, "done")
        assert district.received() == []
        assert {a.code for a in district.agencies()} == {"000.00.00.H41", "000.00.01.H41"}
    finally:
        province.close()
        district.close()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert "axis 000.00.00.G22 (vdxp) serving 2 system(s)" in out, out + err


def test_a_scripted_session_through_the_command_line(tmp_path: Path) -> None:
    import json

    urls, codes = two_homes(tmp_path)
    home = {name: ["--home", str(tmp_path / name)] for name in codes}
    servers = serve_homes(tmp_path, urls)
    try:
        (tmp_path / "kehoach.pdf").write_bytes(b"%PDF-1.4 ke hoach")
        sent = run("send", *home["province"], "--to", codes["district"], "--type", "plan",
                   "--subject", "Kế hoạch chuyển đổi số năm 2027", "--signer", "Lê Văn Dũng",
                   "--attach", str(tmp_path / "kehoach.pdf"))
        (message_id,) = sent.stdout.split()
        assert "delivered 1, failed 0" in sent.stderr

        def inbox() -> list[dict[str, object]]:
            return list(json.loads(run("inbox", *home["district"], "--json").stdout))

        (document,) = inbox()
        assert (document["message_id"], document["state"]) == (message_id, "received")
        ref = str(document["id"])
        assert "accepted (status 03 queued for the sender)" in run(
            "accept", *home["district"], ref).stdout
        run("process", *home["district"], ref)
        done = run("complete", *home["district"], ref).stdout
        assert "completed (status 06 queued for the sender)" in done
        rejected = subprocess.run([str(DOCFLOW), "reject", *home["district"], ref],
                                  capture_output=True, text=True, env=ENV, timeout=60)
        assert rejected.returncode == 2 and "--reason" in rejected.stderr
        illegal = subprocess.run([str(DOCFLOW), "reject", *home["district"], ref,
                                  "--reason", "x"], capture_output=True, text=True, env=ENV,
                                 timeout=60)
        assert illegal.returncode == 4 and "completed" in illegal.stderr

        def business() -> str:
            (shown_doc,) = json.loads(run("outbox", *home["province"], "--json").stdout)
            shown = json.loads(run("show", *home["province"], str(shown_doc["id"]),
                                   "--json").stdout)
            return str(shown["deliveries"][0]["business_state"])

        wait_for(lambda: business() == "completed", seconds=30)
        trace = run("trace", *home["province"], "1").stdout
        assert "status 06 in from 000.00.01.H41" in trace
        assert "delivery  processing -completed-> completed" in trace
        assert run("deadletters", *home["province"], "--json").stdout.strip() == "[]"
        replaced = run("replace", *home["province"], "1", "--reason", "bổ sung phụ lục",
                       "--subject", "Kế hoạch chuyển đổi số năm 2027 (thay thế)")
        assert "sent as the replace of 1 to 1 recipient(s)" in replaced.stdout
        wait_for(lambda: len(inbox()) == 2, seconds=30)
        assert {str(d["subject"]) for d in inbox()} == {
            "Kế hoạch chuyển đổi số năm 2027",
            "Kế hoạch chuyển đổi số năm 2027 (thay thế)"}
        # The packet on disk verifies against the CA, and a tampered one does not.
        with Store(load_config(tmp_path / "district").database) as store:
            packet = store.queries.packet(int(ref))
        (tmp_path / "in.edxml").write_bytes(packet)
        ok = run("verify", str(tmp_path / "in.edxml"), "--trust", str(tmp_path / "ca" / "ca.crt"))
        assert "verified, signed by 000.00.00.H41" in ok.stdout
        (tmp_path / "bad.edxml").write_bytes(packet.replace("Kế hoạch".encode(), b"Ke hoach"))
        bad = subprocess.run([str(DOCFLOW), "verify", str(tmp_path / "bad.edxml"), "--trust",
                              str(tmp_path / "ca" / "ca.crt")], capture_output=True,
                             text=True, env=ENV, timeout=60)
        assert bad.returncode == 1 and "NOT VERIFIED (DigestMismatchError)" in bad.stdout
    finally:
        for process in servers.values():
            process.send_signal(signal.SIGTERM)
        for process in servers.values():
            process.communicate(timeout=60)


def test_a_province_hub_and_a_pulling_commune_as_processes(tmp_path: Path) -> None:
    """Three processes over real HTTP: the province, its LGSP hub, and a commune behind
    NAT that only pulls; the letter goes down through the hub, the answer comes back."""
    import json

    ports = {"province": free_port(), "hub": free_port(), "commune": free_port()}
    url = {name: f"http://127.0.0.1:{port}/" for name, port in ports.items()}
    (tmp_path / "directory.toml").write_text(f"""
[[hubs]]
code = "000.00.90.H41"
name = "LGSP Quảng Nam"
endpoint = "{url['hub']}"
[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
level = "province"
hub = "000.00.90.H41"
endpoint = "{url['province']}"
[[organs]]
code = "000.00.03.H41"
name = "UBND thị xã Điện Bàn"
level = "district"
hub = "000.00.90.H41"
[[organs]]
code = "000.01.03.H41"
name = "UBND phường Vĩnh Điện"
level = "commune"
hub = "000.00.90.H41"
pull = true
""", encoding="utf-8")
    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    codes = {"province": "000.00.00.H41", "hub": "000.00.90.H41", "commune": "000.01.03.H41"}
    for name, code in codes.items():
        run("init", str(tmp_path / name), "--organ", code, "--ca", str(tmp_path / "ca"),
            "--port", str(ports[name]), "--directory", str(tmp_path / "directory.toml"),
            *(["--hub"] if name == "hub" else []))
    home = {name: ["--home", str(tmp_path / name)] for name in codes}
    servers = serve_homes(tmp_path, url)
    try:
        run("send", *home["province"], "--to", codes["commune"], "--subject",
            "Công văn về chuyển đổi số", "--signer", "Lê Văn Dũng")

        def inbox() -> list[dict[str, object]]:
            return list(json.loads(run("inbox", *home["commune"], "--json").stdout))

        wait_for(lambda: len(inbox()) == 1, seconds=40)
        run("accept", *home["commune"], str(inbox()[0]["id"]))

        def seen() -> str:
            shown = json.loads(run("show", *home["province"], "1", "--json").stdout)
            return str(shown["deliveries"][0]["business_state"])

        wait_for(lambda: seen() == "accepted", seconds=40)
        trace = run("trace", *home["commune"], str(inbox()[0]["id"])).stdout
        assert "hops: 000.00.00.H41 (" in trace and "-> 000.00.90.H41 (" in trace  # sender first
        # The sender's trace asks its hub (issue 20, item 11); --local does not.
        asked = run("trace", *home["province"], "1")
        assert "hub 000.00.90.H41 saw:" in asked.stdout, asked.stdout + asked.stderr
        assert codes["commune"] in asked.stdout.split("hub 000.00.90.H41 saw:")[1]
        seen_by_hub = json.loads(run("trace", *home["province"], "1", "--json").stdout)["hub"]
        assert [copy["recipient"] for copy in seen_by_hub["copies"]] == [codes["commune"]]
        local = run("trace", *home["province"], "1", "--local").stdout
        assert "saw:" not in local
        # A hub home answers inbox, outbox, trace and deadletters (issue 20, hub homes).
        relayed = json.loads(run("outbox", *home["hub"], "--json").stdout)
        document_copies = [r for r in relayed if r["kind"] == "document"]
        assert [(r["from"], r["to"], r["state"]) for r in document_copies] == [
            (codes["province"], codes["commune"], "acknowledged")]
        # A relayed status is from the organ that sent it (issue 27, D24), not the
        # document's sender, to whom it goes.
        status_copies = [r for r in relayed if r["kind"] == "status"]
        assert status_copies and all((r["from"], r["to"]) == (codes["commune"],
                                                              codes["province"])
                                     for r in status_copies), status_copies
        # The province's outbox shows what the commune did, not "1/1 acknowledged" (D11).
        sent = json.loads(run("outbox", *home["province"], "--json").stdout)
        assert sent[0]["copies"] == "1/1 accepted", sent
        assert json.loads(run("inbox", *home["hub"], "--json").stdout) == [] or all(
            r["state"] in ("queued", "retrying", "sending")
            for r in json.loads(run("inbox", *home["hub"], "--json").stdout))
        hub_trace = run("trace", *home["hub"], str(document_copies[0]["document"]))
        assert "-> 000.00.90.H41 (" in hub_trace.stdout and codes["commune"] in hub_trace.stdout
        assert json.loads(run("deadletters", *home["hub"], "--json").stdout) == []
    finally:
        for process in servers.values():
            process.send_signal(signal.SIGTERM)
        outputs = {name: process.communicate(timeout=60) for name, process in servers.items()}
    assert "docflow hub stopped" in outputs["hub"][1]
    for name, process in servers.items():
        assert process.returncode == 0, outputs[name]


def test_serve_writes_signed_audit_checkpoints(tmp_path: Path) -> None:
    """`[server] checkpoint_every`: the served node signs its audit chain's head when it
    has grown (and once more when it stops); each file verifies the chain."""
    from docflow.envelope import build_envelope

    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    home, port = tmp_path / "province", free_port()
    run("init", str(home), "--organ", "000.00.00.H41", "--name", "UBND tỉnh",
        "--ca", str(tmp_path / "ca"), "--port", str(port))
    config = home / "node.toml"
    written = config.read_text(encoding="utf-8")
    assert "checkpoint_every = 3600.0" in written  # init writes the default (issue 20, 9)
    config.write_text(written.replace("checkpoint_every = 3600.0", "checkpoint_every = 0.3"
                                      "\ndeliver_every = 0.1", 1), encoding="utf-8")
    database = load_config(home).database

    def record(number: str) -> None:
        envelope = sample_envelope(number=number, message_id=f"m-{number}")
        with Store(database) as store:
            store.outbox.record(envelope, build_envelope(envelope))

    def written() -> list[Path]:
        return sorted((home / "checkpoints").glob("audit-*.json"))

    record("1")
    servers = serve_homes(tmp_path, {"province": f"http://127.0.0.1:{port}/"})
    try:
        wait_for(lambda: len(written()) == 1)

        def checkpoint_passes() -> int:
            facts = requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
            return int(facts["loops"]["checkpoint"]["passes"])

        seen = checkpoint_passes()
        wait_for(lambda: checkpoint_passes() >= seen + 4)  # several periods went by...
        assert len(written()) == 1  # ...and an unchanged chain was not signed again
        record("2")
    finally:
        servers["province"].send_signal(signal.SIGTERM)
        servers["province"].communicate(timeout=60)
    files = written()
    assert [path.name[:16] for path in files] == ["audit-0000000001", "audit-0000000002"]
    for path, count in [*((path, 1) for path in files), (home / "checkpoints", 2)]:
        ok = run("audit", "verify", "--database", database, "--checkpoint", str(path),
                 "--trust", str(tmp_path / "ca" / "ca.crt"))
        assert f"intact: 2 entries (matches {count} signed checkpoint(s))" in ok.stdout


def test_serve_on_a_port_in_use_fails_before_it_claims_to_serve(tmp_path: Path) -> None:
    """Issue 20, item 3: one clear error and an exit code of its own (6), no traceback,
    and no "serving on" line first."""
    import socket

    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    home = tmp_path / "province"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run("init", str(home), "--organ", "000.00.00.H41", "--name", "UBND tỉnh",
            "--ca", str(tmp_path / "ca"), "--port", str(port))
        result = subprocess.run([str(DOCFLOW), "serve", "--home", str(home)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 6, result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "serving on" not in result.stderr and "Traceback" not in result.stderr


def test_node_commands_take_home_from_docflow_home(tmp_path: Path) -> None:
    """Issue 20, item 10: `audit verify` takes --home (its database, its trust folder for
    checkpoints), and `serve` and the others default to $DOCFLOW_HOME."""
    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    home = tmp_path / "province"
    run("init", str(home), "--organ", "000.00.00.H41", "--name", "UBND tỉnh",
        "--ca", str(tmp_path / "ca"), "--port", str(free_port()))
    by_home = run("audit", "verify", "--home", str(home))
    assert by_home.returncode == 0 and "audit chain intact" in by_home.stdout, by_home.stderr
    checkpoint = tmp_path / "cp.json"
    assert run("audit", "checkpoint", "--home", str(home), "-o", str(checkpoint)).returncode == 0
    env = {**os.environ, "DOCFLOW_HOME": str(home), "PYTHONIOENCODING": "utf-8"}
    env.pop("DOCFLOW_DATABASE", None)
    signed = subprocess.run([str(DOCFLOW), "audit", "verify", "--checkpoint", str(checkpoint)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert signed.returncode == 0 and "matches 1 signed checkpoint" in signed.stdout, signed.stderr
    help_text = subprocess.run([str(DOCFLOW), "serve", "--help"], capture_output=True,
                               text=True, env=env, timeout=60).stdout
    assert "$DOCFLOW_HOME" in help_text


def test_send_notation_is_the_document_ids_too(tmp_path: Path) -> None:
    """Issue 20, item 2: `--notation X` gives the code N/X and a DocumentId ending in N/X
    (it kept the sample's notation)."""
    import json

    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    home = tmp_path / "province"
    run("init", str(home), "--organ", "000.00.00.H41", "--name", "UBND tỉnh",
        "--ca", str(tmp_path / "ca"), "--port", str(free_port()),
        "--peer", "000.00.01.H41=http://127.0.0.1:9/")
    sent = run("send", "--home", str(home), "--to", "000.00.01.H41", "--notation", "KH-UBND",
               "--number", "7", "--subject", "Kế hoạch", "--signer", "Lê Văn Dũng",
               "--no-deliver")
    assert sent.returncode == 0, sent.stderr
    (document,) = json.loads(run("outbox", "--home", str(home), "--json").stdout)
    assert document["code"] == "7/KH-UBND"
    assert str(document["document_id"]).startswith("000.00.00.H41,")
    assert str(document["document_id"]).endswith(",7/KH-UBND")


def test_send_refuses_an_organ_nobody_can_reach_before_signing(tmp_path: Path) -> None:
    """Issue 20, item 6: not signed, queued and retried for hours: refused, named."""
    import json

    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    home = tmp_path / "province"
    run("init", str(home), "--organ", "000.00.00.H41", "--name", "UBND tỉnh",
        "--ca", str(tmp_path / "ca"), "--port", str(free_port()),
        "--peer", "000.00.01.H41=http://127.0.0.1:9/")
    refused = subprocess.run([str(DOCFLOW), "send", "--home", str(home), "--to",
                              "000.00.01.H41,000.00.77.H41", "--subject", "Công văn",
                              "--signer", "Lê Văn Dũng", "--no-deliver"],
                             capture_output=True, text=True, env=ENV, timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "no route to 000.00.77.H41" in refused.stderr and "nothing was signed" in refused.stderr
    assert json.loads(run("outbox", "--home", str(home), "--json").stdout) == []
    run("send", "--home", str(home), "--to", "000.00.01.H41", "--subject", "Công văn",
        "--signer", "Lê Văn Dũng", "--no-deliver")
    assert len(json.loads(run("outbox", "--home", str(home), "--json").stdout)) == 1


def test_serve_with_two_processes_on_one_postgresql_database(
        tmp_path: Path, postgres: PostgresCluster) -> None:
    """`docflow serve --processes 2`: two forked processes share the district's port and
    PostgreSQL database; letters sent to it all arrive exactly once, each answered by the
    district's own workers, and SIGTERM stops both cleanly."""
    urls, _ = two_homes(tmp_path)
    with postgres.database() as url:
        toml = tmp_path / "district" / "node.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace(
            'database = "sqlite:///node.db"', f'database = "{url}"'), encoding="utf-8")
        Store.open(url).close()
        district = subprocess.Popen([str(DOCFLOW), "serve", "--home", str(tmp_path / "district"),
                                     "--processes", "2"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=ENV)
        served = serve_homes(tmp_path, {"province": urls["province"]})  # where the 03s go
        try:
            wait_for(lambda: up(urls["district"]))
            province = Node.from_config(load_config(tmp_path / "province"))
            letters = [sample_envelope(number=str(100 + n)) for n in range(8)]
            refs = [province.send(letter.info, letter.attachments).document_ref
                    for letter in letters]
            province.deliver(limit=10, workers=4)  # four at a time, to both processes
            assert all(province.store.queries.deliveries(document_ref=ref).items[0]
                       .transport_state == "acknowledged" for ref in refs)
            district_node = Node.from_config(load_config(tmp_path / "district"))
            received = district_node.store.queries.documents(direction="in").items
            assert sorted(d.code for d in received) == sorted(sent.info.code for sent in letters)
            for document in received:  # the served processes' workers send the 03s back
                district_node.accept(document.id)
            district_node.store.close()
            wait_for(lambda: all(province.store.queries.deliveries(document_ref=ref).items[0]
                                 .business_state == "accepted" for ref in refs), seconds=60)
            assert province.store.audit.verify().ok
            province.store.close()
        finally:
            for process in (district, *served.values()):
                process.send_signal(signal.SIGTERM)
            for process in served.values():
                process.communicate(timeout=60)
            _, err = district.communicate(timeout=60)
        assert district.returncode == 0, err
        assert "process 1 of 2" in err and "process 2 of 2" in err
        assert err.count("docflow node stopped") == 2
