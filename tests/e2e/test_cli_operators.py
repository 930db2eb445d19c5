"""What an operator types (issue 20): real headers on `send`, the node's time zone,
exit codes, and the commands a new user expects. Each runs the installed `docflow`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docflow.config import load_config
from docflow.model import OrganCode, Priority
from docflow.node import Node
from tests.postgres import free_port

DOCFLOW = Path(sys.executable).with_name("docflow")
ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}
PROVINCE, DISTRICT = "000.00.00.H41", "000.00.01.H41"


def docflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI; the caller checks the exit status."""
    return subprocess.run([str(DOCFLOW), *args], capture_output=True, text=True,
                          env={**ENV, **(env or {})}, timeout=120)


def ok(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = docflow(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A province node home with one peer (nobody listens there: --no-deliver)."""
    ok("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    folder = tmp_path / "province"
    ok("init", str(folder), "--organ", PROVINCE, "--name", "UBND tỉnh Quảng Nam",
       "--ca", str(tmp_path / "ca"), "--port", str(free_port()),
       "--peer", f"{DISTRICT}=http://127.0.0.1:9/")
    return folder


def _stored(home: Path, document: int = 1) -> object:
    node = Node.from_config(load_config(home))
    try:
        return node.stored(document).info
    finally:
        node.store.close()


def test_send_takes_the_header_from_options_and_a_file_only(home: Path, tmp_path: Path) -> None:
    """Issue 20, item 1: no signer, priority, body, recipients' list or place of the
    sample decision reaches a real document; --subject and --signer are required."""
    missing = docflow("send", "--home", str(home), "--to", DISTRICT, "--signer", "A",
                      "--no-deliver")
    assert missing.returncode == 2 and "--subject is required" in missing.stderr
    unsigned = docflow("send", "--home", str(home), "--to", DISTRICT, "--subject", "S",
                       "--no-deliver")
    assert unsigned.returncode == 2 and "--signer is required" in unsigned.stderr
    header = tmp_path / "header.toml"
    header.write_text('subject = "Kế hoạch chuyển đổi số năm 2027"\n'
                      'type = "plan"\nnotation = "KH-UBND"\nplace = "Tam Kỳ"\n'
                      'signer = "Lê Văn Dũng"\nsigner_position = "Chủ tịch"\n'
                      'priority = "very-urgent"\ndue = 2027-01-15\n'
                      'to_places = ["Như trên", "Lưu: VT"]\n', encoding="utf-8")
    ok("send", "--home", str(home), "--to", DISTRICT, "--header", str(header),
       "--signer-competence", "TM. UBND", "--content", "Triển khai năm 2027",
       "--date", "2026-12-01", "--no-deliver")
    info = _stored(home)
    assert info.subject == "Kế hoạch chuyển đổi số năm 2027"  # type: ignore[attr-defined]
    assert (info.signer.full_name, info.signer.position, info.signer.competence) == (  # type: ignore[attr-defined]
        "Lê Văn Dũng", "Chủ tịch", "TM. UBND")
    assert info.priority == Priority.VERY_URGENT  # type: ignore[attr-defined]
    assert str(info.due_date) == "2027-01-15"  # type: ignore[attr-defined]
    assert info.to_places == ("Như trên", "Lưu: VT")  # type: ignore[attr-defined]
    assert info.promulgation_place == "Tam Kỳ"  # type: ignore[attr-defined]
    assert info.content == "Triển khai năm 2027"  # type: ignore[attr-defined]
    assert info.document_id == f"{PROVINCE},2026/12/01,1/KH-UBND"  # type: ignore[attr-defined]
    # the least a real send needs: empty defaults, nothing of the sample
    header.write_text('subject = "Công văn"\nsigner = "Lê Văn Dũng"\n', encoding="utf-8")
    json_header = tmp_path / "header.json"
    json_header.write_text(json.dumps({"subject": "Công văn", "signer": "Lê Văn Dũng"}),
                           encoding="utf-8")
    for source in (header, json_header):
        ok("send", "--home", str(home), "--to", DISTRICT, "--header", str(source),
           "--no-deliver")
    for document in (2, 3):
        info = _stored(home, document)
        assert info.priority == Priority.NORMAL and info.due_date is None  # type: ignore[attr-defined]
        assert info.content is None and info.to_places == ()  # type: ignore[attr-defined]
        assert info.promulgation_place == "" and info.signer.position == ""  # type: ignore[attr-defined]
    bad = tmp_path / "bad.toml"
    bad.write_text('subject = "S"\nsigner = "A"\nurgency = "high"\n', encoding="utf-8")
    refused = docflow("send", "--home", str(home), "--to", DISTRICT, "--header", str(bad),
                      "--no-deliver")
    assert refused.returncode == 1 and "unknown header field(s): urgency" in refused.stderr
    assert str(bad) in refused.stderr


def test_send_json_prints_what_was_queued(home: Path) -> None:
    sent = json.loads(ok("send", "--home", str(home), "--to", DISTRICT, "--subject", "S",
                         "--signer", "A", "--number", "12", "--no-deliver", "--json").stdout)
    (item,) = sent["sent"]
    assert item["code"] == "12/VP" and item["to"] == [DISTRICT] and item["document"] == 1
    assert len(item["message_id"]) == 32 and sent["delivered"] is None


def _receive(home: Path, tmp_path: Path, files: dict[str, bytes]) -> int:
    """A document from the district, with ``files`` (names as its sender wrote them),
    received by the province's node through the Python API; its id."""
    from docflow.model import Attachment, OrganInfo
    from docflow.samples import sample_envelope
    from docflow.security import Credentials, TrustStore, sign_envelope

    ok("pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", DISTRICT, "--name",
       "UBND Tam Kỳ", "--out", str(tmp_path / "district"))
    base = sample_envelope(sender=OrganInfo(DISTRICT, "UBND Tam Kỳ"),  # type: ignore[arg-type]
                           recipients=(OrganInfo(PROVINCE, "UBND tỉnh"),),  # type: ignore[arg-type]
                           attachment_bytes=0)
    from dataclasses import replace

    envelope = replace(base, attachments=tuple(Attachment(name, data) for name, data
                                               in files.items()))
    credentials = Credentials.load(str(tmp_path / "district" / "organ.key"),
                                   str(tmp_path / "district" / "organ.crt"))
    packet = sign_envelope(envelope, credentials)
    node = Node.from_config(load_config(home))
    try:
        assert isinstance(TrustStore.from_paths(str(home / "trust")), TrustStore)
        node.receive_document(packet)
        return int(node.inbox().items[0].id)
    finally:
        node.store.close()


def test_attachments_come_out_of_the_store_with_safe_names(home: Path, tmp_path: Path) -> None:
    """Missing: `docflow attachments ID -o DIR`; `show` lists the files. A sender's
    names cannot climb out of the folder or hide a file."""
    files = {"QĐ 12.pdf": b"%PDF-1.4 a", "../../etc/passwd": b"root", ".bashrc": b"x",
             "qđ 12.pdf": b"%PDF-1.4 b"}
    document = _receive(home, tmp_path, files)
    shown = json.loads(ok("show", "--home", str(home), str(document), "--json").stdout)
    assert [item["name"] for item in shown["attachments"]] == list(files)
    assert "attachments: QĐ 12.pdf (10 bytes)" in ok("show", "--home", str(home),
                                                      str(document)).stdout
    out = tmp_path / "out"
    written = json.loads(ok("attachments", "--home", str(home), str(document), "-o",
                            str(out), "--json").stdout)
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(["QĐ 12.pdf", "passwd", "bashrc", "qđ 12-2.pdf"])
    assert (out / "QĐ 12.pdf").read_bytes() == b"%PDF-1.4 a"
    assert (out / "qđ 12-2.pdf").read_bytes() == b"%PDF-1.4 b"
    assert not (tmp_path / "etc").exists() and len(written) == 4
    again = docflow("attachments", "--home", str(home), str(document), "-o", str(out))
    assert again.returncode == 5 and "exist(s) already" in again.stderr
    ok("attachments", "--home", str(home), str(document), "-o", str(out), "--force")
    missing = docflow("attachments", "--home", str(home), "99", "-o", str(out))
    assert missing.returncode == 3, missing.stderr


def test_outbox_shows_recipients_and_copies_and_refuses_unknown_states(home: Path) -> None:
    ok("send", "--home", str(home), "--to", DISTRICT, "--subject", "Công văn",
       "--signer", "A", "--no-deliver")
    (row,) = json.loads(ok("outbox", "--home", str(home), "--json").stdout)
    assert row["recipients"] == [DISTRICT] and row["copies"] == "1/1 queued"
    assert "1/1 queued" in ok("outbox", "--home", str(home)).stdout
    assert row["copy_states"] == [{"to": DISTRICT, "standing": "queued", "transport": "queued",
                                   "business": "pending", "change": "none"}]
    wrong = docflow("outbox", "--home", str(home), "--state", "snet")
    assert wrong.returncode == 2 and "'snet' is not one of" in wrong.stderr
    assert docflow("inbox", "--home", str(home), "--state", "received").returncode == 0


def test_retry_now_makes_backed_off_deliveries_due(home: Path) -> None:
    ok("send", "--home", str(home), "--to", DISTRICT, "--subject", "Công văn",
       "--signer", "A")  # nobody listens at the peer: the copy waits for a retry
    (row,) = json.loads(ok("outbox", "--home", str(home), "--json").stdout)
    assert "retrying" in row["copies"]
    done = ok("retry-now", "--home", str(home), "--no-deliver")
    assert done.stdout.strip() == "1 delivery due now"
    node = Node.from_config(load_config(home))
    try:
        (copy,) = node.store.queries.deliveries().items
        assert copy.next_attempt_at <= node.clock()
        assert node.store.audit.verify().ok
    finally:
        node.store.close()
    assert ok("retry-now", "--home", str(home)).stdout.strip() == "0 deliveries due now"


def test_organs_lists_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "quangnam.toml"
    directory.write_text(f"""
[[organs]]
code = "{PROVINCE}"
name = "UBND tỉnh Quảng Nam"
level = "province"
endpoint = "http://127.0.0.1:9/"
[[organs]]
code = "{DISTRICT}"
name = "UBND thành phố Tam Kỳ"
level = "district"
""", encoding="utf-8")
    rows = json.loads(ok("organs", "--directory", str(directory), "--json").stdout)
    assert [(r["code"], r["level"]) for r in rows] == [(PROVINCE, "province"),
                                                        (DISTRICT, "district")]
    assert rows[1]["parent"] == PROVINCE
    districts = ok("organs", "--directory", str(directory), "--level", "district").stdout
    assert "UBND thành phố Tam Kỳ" in districts and "UBND tỉnh" not in districts
    none = docflow("organs", "--directory", str(directory), "--level", "commune")
    assert none.returncode == 3 and "the levels there: district, province" in none.stderr
    nowhere = docflow("organs", "--home", str(tmp_path))
    assert nowhere.returncode == 5 and "node.toml" in nowhere.stderr


def test_config_check_names_each_setting(home: Path) -> None:
    checked = ok("config", "check", "--home", str(home))
    assert checked.stdout.count("ok  ") >= 5 and "FAIL" not in checked.stdout
    config = home / "node.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'trust = "trust"', 'trust = "no-such-folder"').replace(
        "[server]", '[axis]\ndialect = "vdxp"\nurl = "http://127.0.0.1:9/"\n'
        'system_id = "x"\nsecret_env = "DOCFLOW_TEST_UNSET_SECRET"\n\n[server]'),
        encoding="utf-8")
    broken = docflow("config", "check", "--home", str(home))
    assert broken.returncode == 5
    lines = {line.split(":")[0]: line for line in broken.stdout.splitlines()}
    assert lines["FAIL [node] trust"] and "no-such-folder" in lines["FAIL [node] trust"]
    assert "DOCFLOW_TEST_UNSET_SECRET" in lines["FAIL [axis]"]
    assert lines["ok   [node] database"] and "Traceback" not in broken.stderr
    config.write_text(config.read_text(encoding="utf-8").replace("[server]",
                                                                 "[server]\nspeed = 3"),
                      encoding="utf-8")
    unknown = docflow("config", "check", "--home", str(home))
    assert unknown.returncode == 5 and "unknown setting in [server]: speed" in unknown.stdout


def test_exit_statuses_are_the_same_across_commands(home: Path, tmp_path: Path) -> None:
    """Usage 2, invalid input 1, not found 3, illegal transition 4, configuration 5."""
    assert docflow("show", "--home", str(home), "7").returncode == 3
    assert docflow("trace", "--home", str(home), "7", "--local").returncode == 3
    assert docflow("resend", "--home", str(home), "7").returncode == 3
    assert docflow("send", "--home", str(home), "--bogus").returncode == 2
    assert docflow("send", "--home", str(home), "--to", "H41", "--subject", "S",
                   "--signer", "A").returncode == 1  # not an organ code
    document = str(_receive(home, tmp_path, {}))
    ok("accept", "--home", str(home), document)
    illegal = docflow("accept", "--home", str(home), document)
    assert illegal.returncode == 4, illegal.stderr
    assert f"document {document} is accepted" in illegal.stderr
    assert f"docflow assign {document}, docflow process {document}" in illegal.stderr
    assert "agree_" not in illegal.stderr  # the machine's own events are not verbs
    assert docflow("inbox", "--home", str(home / "nowhere")).returncode == 5


def test_an_encrypted_key_is_needed_to_sign_only(home: Path, tmp_path: Path) -> None:
    """`pki issue --encrypt`; `inbox`, `show`, `outbox` need no passphrase; signing
    without it is a configuration error naming DOCFLOW_KEY_PASSPHRASE."""
    secret = {"DOCFLOW_KEY_PASSPHRASE": "mật khẩu dài 2026"}
    short = docflow("pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", PROVINCE,
                    "--name", "UBND tỉnh", "--out", str(home / "keys"), "--force",
                    "--encrypt", env={"DOCFLOW_KEY_PASSPHRASE": "short"})
    assert short.returncode == 2 and "at least 8" in short.stderr
    issued = ok("pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", PROVINCE, "--name",
                "UBND tỉnh", "--out", str(home / "keys"), "--force", "--encrypt", env=secret)
    assert "(key encrypted)" in issued.stdout
    assert b"ENCRYPTED" in (home / "keys" / "organ.key").read_bytes()
    ok("send", "--home", str(home), "--to", DISTRICT, "--subject", "S", "--signer", "A",
       "--no-deliver", env=secret)
    for command in (("inbox",), ("outbox",), ("show", "1"), ("trace", "1"),
                    ("deadletters",)):
        assert docflow(command[0], "--home", str(home), *command[1:]).returncode == 0, command
    locked = docflow("send", "--home", str(home), "--to", DISTRICT, "--subject", "S",
                     "--signer", "A", "--no-deliver")
    assert locked.returncode == 5 and "DOCFLOW_KEY_PASSPHRASE is not set" in locked.stderr
    wrong = docflow("send", "--home", str(home), "--to", DISTRICT, "--subject", "S",
                    "--signer", "A", "--no-deliver",
                    env={"DOCFLOW_KEY_PASSPHRASE": "not the passphrase"})
    assert wrong.returncode == 5 and "does not open it" in wrong.stderr
    prompted = subprocess.run(
        [str(DOCFLOW), "pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", DISTRICT,
         "--name", "UBND Tam Kỳ", "--out", str(tmp_path / "district"), "--encrypt"],
        input="mật khẩu dài 2026\nmật khẩu dài 2026\n", capture_output=True, text=True,
        env={key: value for key, value in ENV.items() if key != "DOCFLOW_KEY_PASSPHRASE"},
        timeout=60)
    assert prompted.returncode == 0, prompted.stderr
    from docflow.security import Credentials

    encrypted_home = tmp_path / "encrypted-home"
    ok("init", str(encrypted_home), "--organ", DISTRICT, "--ca", str(tmp_path / "ca"),
       "--name", "UBND Tam Kỳ", "--peer", f"{PROVINCE}=http://127.0.0.1:9/", "--encrypt",
       env=secret)
    assert b"ENCRYPTED" in (encrypted_home / "keys" / "organ.key").read_bytes()
    assert docflow("inbox", "--home", str(encrypted_home)).returncode == 0
    unlocked = docflow("send", "--home", str(encrypted_home), "--to", PROVINCE, "--subject",
                       "S", "--signer", "A", "--no-deliver", env=secret)
    assert unlocked.returncode == 0, unlocked.stderr
    assert Credentials.load(tmp_path / "district" / "organ.key",
                            str(tmp_path / "district" / "organ.crt"),
                            passphrase="mật khẩu dài 2026").organ == OrganCode(DISTRICT)  # noqa: S106 - a test key


def test_serve_logs_health_and_status(home: Path, tmp_path: Path) -> None:
    """`serve` logs with timestamps, levels and loop names (JSON lines to a file here),
    answers GET /health, and `docflow status` reads it; a stopped node is exit 7."""
    import signal
    import time

    import requests

    port = int(load_config(home).server.port)
    ok("send", "--home", str(home), "--to", DISTRICT, "--subject", "Công văn", "--signer",
       "A", "--no-deliver")  # nobody listens at the district: the outbox pass fails
    log = tmp_path / "serve.jsonl"
    server = subprocess.Popen([str(DOCFLOW), "serve", "--home", str(home), "--log-json",
                               "--log-file", str(log), "--log-level", "info"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        facts = health.json()
        assert health.status_code == 200 and facts["database"] == "ok", facts
        assert facts["organ"] == PROVINCE
        assert set(facts["loops"]) == {"outbox", "checkpoint", "expire"}
        assert facts["outbox"]["outstanding"] == 1
        status = ok("status", "--home", str(home))
        assert f"{PROVINCE}: ok" in status.stdout and "1 on their way" in status.stdout
        assert json.loads(ok("status", "--home", str(home), "--json").stdout)["worker"] == \
            "running"
        deadline = time.monotonic() + 30
        while '"docflow.outbox"' not in log.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert lines[0]["logger"] == "docflow.serve" and "serving on" in lines[0]["message"]
    assert lines[0]["time"].endswith("+07:00")  # the node's zone, with its offset
    failed = [line for line in lines if line["logger"] == "docflow.outbox"]
    assert failed and failed[0]["level"] == "warning" and DISTRICT in failed[0]["message"]
    assert lines[-1]["message"] == "docflow node stopped"
    stopped = docflow("status", "--home", str(home))
    assert stopped.returncode == 7 and "nothing answers" in stopped.stderr
    stopped = docflow("status", "--home", str(home), "--json")  # what a monitor reads
    assert stopped.returncode == 7 and json.loads(stopped.stdout)["status"] == "unreachable"
    assert "HTTPConnectionPool" not in stopped.stdout + stopped.stderr


def test_quiet_verbose_version_and_completion(home: Path) -> None:
    quiet = ok("-q", "send", "--home", str(home), "--to", DISTRICT, "--subject", "S",
               "--signer", "A")
    assert quiet.stderr == "" and len(quiet.stdout.split()) == 1  # the message id only
    loud = ok("send", "--home", str(home), "--to", DISTRICT, "--subject", "S",
              "--signer", "A")
    assert "delivered 0, failed 1" in loud.stderr
    verbose = ok("-vv", "send", "--home", str(home), "--to", DISTRICT, "--subject", "S",
                 "--signer", "A")
    assert "INFO    docflow.node: signed document 3" in verbose.stderr
    assert "DEBUG   docflow.outbox: document 3/VP (message " in verbose.stderr
    assert "to 000.00.01.H41: attempt 1 failed: cannot reach 000.00.01.H41: connection " \
        "refused (nothing listens)" in verbose.stderr
    version = ok("--version").stdout
    assert version.startswith("docflow, version ")
    completion = ok(env={"_DOCFLOW_COMPLETE": "bash_source"})
    assert "_docflow_completion" in completion.stdout


def test_an_embedder_opens_a_home_and_runs_its_worker(home: Path) -> None:
    """`docflow.Node.from_home(path)` and `with node.running(): ...` (issue 20, API)."""
    import docflow

    assert {"Node", "Hub", "Worker", "Store", "load_config"} <= set(docflow.__all__)
    node = docflow.Node.from_home(str(home))
    try:
        assert node.code == OrganCode(PROVINCE) and node.today() == node.clock().astimezone(
            node.zone).date()
        with node.running(every=0.05) as worker:
            assert isinstance(worker, docflow.Worker) and worker.running
        assert not worker.running and worker.health["outbox"].passes >= 0
    finally:
        node.store.close()


def test_commands_that_print_a_result_take_json(home: Path, tmp_path: Path) -> None:
    document = str(_receive(home, tmp_path, {}))
    accepted = json.loads(ok("accept", "--home", str(home), document, "--json").stdout)
    assert accepted == {"document": int(document), "act": "accept", "state": "accepted",
                        "status": "03"}
    shown = json.loads(ok("pki", "show", str(tmp_path / "ca" / "ca.crt"), "--json").stdout)
    assert shown["subject"].startswith("CN=Quảng Nam test CA") and shown["organ"] == ""
    organ = json.loads(ok("pki", "show", str(home / "keys" / "organ.crt"), "--json").stdout)
    assert organ["organ"] == PROVINCE
    retried = json.loads(ok("retry-now", "--home", str(home), "--json").stdout)
    # nothing was in backoff; the outbox pass runs all the same (issue 27, D15)
    assert retried["due_now"] == [] and retried["delivered"] == 0
    missing = docflow("resend", "--home", str(home), "5", "--json")
    assert missing.returncode == 3


REFORM_PLAN = """\
effective = 2025-07-01
dissolve = ["district"]
note = "Nghị quyết 202/2025/QH15"
"""


def test_directory_migrate_prints_the_reform_then_applies_it(tmp_path: Path) -> None:
    """Issue 30, part 6: `directory migrate --plan` says what re-parenting the 4-level
    directory to 3 levels changes, writes nothing until --apply, keeps the old file; the
    closed district stays, answered for by the province (`directory organ`, `organs`)."""
    from docflow.harness.directory import quang_nam

    directory = tmp_path / "quangnam.toml"
    directory.write_text(quang_nam(districts=2, communes=2, departments=1), encoding="utf-8")
    original = directory.read_bytes()
    plan = tmp_path / "reform.toml"
    plan.write_text(REFORM_PLAN, encoding="utf-8")
    dry = ok("directory", "migrate", "--directory", str(directory), "--plan", str(plan))
    assert "close  000.00.01.H41: UBND thành phố Tam Kỳ closes on 01/07/2025; successor " \
           f"{PROVINCE}" in dry.stdout
    assert "move   000.01.01.H41" in dry.stdout and "nothing written (add --apply)" in dry.stdout
    assert directory.read_bytes() == original
    applied = json.loads(ok("directory", "migrate", "--directory", str(directory), "--plan",
                            str(plan), "--apply", "--json").stdout)
    assert applied["written"] and {c["action"] for c in applied["changes"]} == {
        "level", "close", "move"}
    assert (tmp_path / "quangnam.toml.bak").read_bytes() == original
    again = ok("directory", "migrate", "--directory", str(directory), "--plan", str(plan))
    assert "the plan changes nothing" in again.stdout
    organ = json.loads(ok("directory", "organ", DISTRICT, "--directory", str(directory),
                          "--json").stdout)
    assert (organ["open"], organ["closed"], organ["answering"]) == (False, "2025-07-01",
                                                                    PROVINCE)
    shown = ok("directory", "organ", DISTRICT, "--directory", str(directory)).stdout
    assert "closed on 2025-07-01" in shown and f"answers for it now: {PROVINCE}" in shown
    rows = {r["code"]: r for r in json.loads(ok("organs", "--directory", str(directory),
                                                "--json").stdout)}
    assert (rows[DISTRICT]["closed"], rows[DISTRICT]["successor"]) == ("2025-07-01", PROVINCE)
    assert rows["000.01.01.H41"]["parent"] == PROVINCE
    assert "(closed 2025-07-01 -> 000.00.00.H41)" in ok(
        "organs", "--directory", str(directory), "--level", "district").stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('effective = 2025-07-01\n[[close]]\ncode = "000.00.09.H99"\n',
                   encoding="utf-8")
    refused = docflow("directory", "migrate", "--directory", str(directory), "--plan", str(bad))
    assert refused.returncode == 5 and "000.00.09.H99" in refused.stderr
    assert "not in the directory" in refused.stderr
    unknown = docflow("directory", "organ", "000.00.09.H99", "--directory", str(directory))
    assert unknown.returncode != 0 and "unknown organ" in unknown.stderr


def test_simulate_runs_the_reform_scenario(tmp_path: Path) -> None:
    """`simulate --reform`: the districts close mid-run; the report says how many
    documents were readdressed and that each under a closed code is traced."""
    from docflow.harness.directory import quang_nam

    directory = tmp_path / "small.toml"
    directory.write_text(quang_nam(districts=2, communes=3, departments=2), encoding="utf-8")
    done = ok("simulate", "--directory", str(directory), "--documents", "30", "--reform",
              "--json")
    report = json.loads(done.stdout)
    assert report["ok"] and report["reform"]["closed"] == 2
    assert report["reform"]["untraceable"] == [] and report["reform"]["under_closed_codes"] > 0
    plan = tmp_path / "plan.toml"
    plan.write_text('effective = 2025-07-01\ndissolve = ["ward"]\n', encoding="utf-8")
    refused = docflow("simulate", "--directory", str(directory), "--documents", "5",
                      "--reform-plan", str(plan))
    assert refused.returncode == 5 and "dissolves level 'ward'" in refused.stderr
    both = docflow("simulate", "--processes", "--reform", "--documents", "5")
    assert both.returncode == 2 and "one process" in both.stderr
