"""What a new user hit in the trial of 2026-12-05 (issue 27,
`../shared/reports/trial-2026-12-05.md`), each defect reproduced as the report did it:
through the CLI (in-process, click's runner) or the library, on homes `docflow init`
made."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from docflow.cli import cli
from docflow.config import load_config
from docflow.errors import CredentialsError, NotFoundError, RoutingError
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.samples import sample_envelope
from tests.conftest import Pki

PROVINCE, DISTRICT = "000.00.00.H41", "000.00.05.H41"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(*args: str, env: dict[str, str] | None = None) -> Result:
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def homes(tmp_path: Path) -> Path:
    """The report's setup: a CA, the province and a district, peers of each other."""
    ok("pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca"), "--ecdsa")
    ok("init", str(tmp_path / "prov"), "--organ", PROVINCE, "--ca", str(tmp_path / "ca"),
       "--name", "UBND tỉnh", "--port", "18080", "--peer", f"{DISTRICT}=http://127.0.0.1:9/")
    ok("init", str(tmp_path / "dist"), "--organ", DISTRICT, "--ca", str(tmp_path / "ca"),
       "--name", "UBND huyện", "--port", "18081", "--peer", f"{PROVINCE}=http://127.0.0.1:9/")
    return tmp_path


# ----------------------------------------------------------------------------- D1


def test_d1_a_missing_or_mistyped_database_is_never_created(homes: Path) -> None:
    dist = homes / "dist"
    (dist / "node.db").unlink()
    for command in (["inbox"], ["outbox"], ["show", "1"]):
        result = run(*command, "--home", str(dist))
        assert result.exit_code == 3 and "no database at" in result.output, result.output
        assert str(dist / "node.db") in result.output
        assert not (dist / "node.db").exists()
    with pytest.raises(NotFoundError, match="no database at"):
        Node.from_home(dist)
    assert not (dist / "node.db").exists()
    config = dist / "node.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("node.db", "nodee.db"),
                      encoding="utf-8")
    assert run("inbox", "--home", str(dist)).exit_code == 3
    assert not (dist / "nodee.db").exists()


# ----------------------------------------------------------------------------- D2


def test_d2_other_organs_checkpoints_are_skipped_not_a_tamper_alarm(homes: Path) -> None:
    folder = homes / "kept"
    folder.mkdir()
    ok("audit", "checkpoint", "--home", str(homes / "prov"), "-o", str(folder / "prov.json"))
    node = Node.from_home(homes / "dist")
    try:  # the district's chain grows longer than the province's
        for _ in range(3):
            node.store.outbox.retry_now()
            node.store.audit.verify()
        envelope = sample_envelope(sender=OrganInfo(OrganCode(DISTRICT), "UBND huyện"),
                                   recipients=(OrganInfo(OrganCode(PROVINCE), "tỉnh"),))
        node.send(envelope.info, ())
    finally:
        node.store.close()
    ok("audit", "checkpoint", "--home", str(homes / "dist"), "-o", str(folder / "dist.json"))
    result = run("audit", "verify", "--home", str(homes / "prov"), "--checkpoint",
                 str(folder), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["ok"], report["checkpoints"]) == (True, 1)
    assert report["skipped"] and report["skipped"][0].startswith(DISTRICT)


# ----------------------------------------------------------------------------- D5, D6


def test_d5_reading_needs_no_axis_secret(homes: Path) -> None:
    config = homes / "dist" / "node.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[axis]\ndialect = "vdxp"\n'
                      'url = "http://127.0.0.1:9/"\nsystem_id = "000.00.05.H41"\n'
                      'secret_env = "TK_AXIS_SECRET_NOT_SET"\n', encoding="utf-8")
    for command in (["inbox"], ["outbox"], ["deadletters"]):
        assert run(*command, "--home", str(homes / "dist")).exit_code == 0
    refused = run("send", "--home", str(homes / "dist"), "--to", PROVINCE, "--subject", "S",
                  "--signer", "A", "--no-deliver")
    assert refused.exit_code == 5 and "TK_AXIS_SECRET_NOT_SET" in refused.output


def test_d6_a_hub_home_says_what_it_is_and_takes_retry_now(tmp_path: Path) -> None:
    directory = tmp_path / "qn.toml"
    directory.write_text(
        '[[hubs]]\ncode = "000.00.90.H41"\nname = "LGSP Quảng Nam"\n'
        'endpoint = "http://127.0.0.1:18102/"\n\n'
        '[[organs]]\ncode = "000.00.00.H41"\nname = "UBND tỉnh"\nlevel = "province"\n'
        'hub = "000.00.90.H41"\n', encoding="utf-8")
    ok("pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca"), "--ecdsa")
    ok("init", str(tmp_path / "lgsp"), "--organ", "000.00.90.H41", "--ca",
       str(tmp_path / "ca"), "--directory", str(directory), "--hub")
    assert "port = 18102" in (tmp_path / "lgsp" / "node.toml").read_text(encoding="utf-8")
    done = ok("retry-now", "--home", str(tmp_path / "lgsp"), "--json")
    assert json.loads(done.stdout)["delivered"] == 0
    refused = run("accept", "--home", str(tmp_path / "lgsp"), "1")
    assert refused.exit_code == 5 and "open_hub" not in refused.output.split(". ")[0]
    assert "accepted and recalled at the organs' own nodes" in refused.output


# ----------------------------------------------------------------------------- D7


def test_d7_the_library_refuses_an_unreachable_recipient_before_signing(
        homes: Path) -> None:
    node = Node.from_home(homes / "prov")
    try:
        info = dataclasses.replace(sample_envelope().info,
                                   recipients=(OrganInfo(OrganCode("000.00.77.H41"), "?"),))
        with pytest.raises(RoutingError, match=r"\[peers\]"):
            node.send(info, ())
        assert node.outbox().total == 0  # nothing signed, nothing stored
    finally:
        node.store.close()


# ----------------------------------------------------------------------------- D9


def test_d9_a_ca_bound_to_a_province_issues_for_it_only(tmp_path: Path) -> None:
    ok("pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca"), "--organs",
       "*.*.*.H41")
    refused = run("init", str(tmp_path / "y"), "--organ", "000.00.00.H42", "--ca",
                  str(tmp_path / "ca"), "--name", "Other")
    assert refused.exit_code != 0 and "*.*.*.H41" in refused.output, refused.output
    assert "organ.invalid" not in refused.output and not (tmp_path / "y" / "node.toml").exists()
    issued = run("pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", "000.00.00.H42",
                 "--name", "Other", "--out", str(tmp_path / "k"))
    assert issued.exit_code != 0 and "*.*.*.H41" in issued.output
    from docflow.security import Credentials, issue_certificate

    ca = Credentials.load(tmp_path / "ca" / "ca.key", tmp_path / "ca" / "ca.crt")
    with pytest.raises(CredentialsError, match=r"\*\.\*\.\*\.H41"):
        issue_certificate(ca, "000.00.00.H42", "Other", now=dt.datetime.now(dt.UTC))


def test_d9_config_check_sees_a_certificate_its_trust_refuses(tmp_path: Path) -> None:
    ok("pki", "ca", "create", "--name", "QN", "--out", str(tmp_path / "qn"), "--organs",
       "*.*.*.H41")
    ok("init", str(tmp_path / "h"), "--organ", "000.00.00.H41", "--ca", str(tmp_path / "qn"),
       "--name", "UBND tỉnh")
    assert run("config", "check", "--home", str(tmp_path / "h")).exit_code == 0
    ok("pki", "ca", "create", "--name", "DN", "--out", str(tmp_path / "dn"), "--organs",
       "*.*.*.H43")
    trust = tmp_path / "h" / "trust"
    (trust / "ca.crt").write_bytes((tmp_path / "dn" / "ca.crt").read_bytes())  # the wrong CA
    checked = run("config", "check", "--home", str(tmp_path / "h"))
    assert checked.exit_code == 5 and "[node] trust" in checked.output, checked.output


def test_d10_init_serves_on_the_directorys_endpoint(tmp_path: Path) -> None:
    directory = tmp_path / "qn.toml"
    directory.write_text('[[organs]]\ncode = "000.00.00.H41"\nname = "UBND tỉnh"\n'
                         'level = "province"\n\n'
                         '[[organs]]\ncode = "000.00.05.H41"\nname = "UBND huyện"\n'
                         'level = "district"\nendpoint = "http://127.0.0.1:18102/"\n',
                         encoding="utf-8")
    ok("pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca"), "--ecdsa")
    ok("init", str(tmp_path / "d2"), "--organ", DISTRICT, "--ca", str(tmp_path / "ca"),
       "--directory", str(directory))
    assert load_config(tmp_path / "d2").server.port == 18102


# ----------------------------------------------------------------------- D12, D16, D17


def test_d12_a_number_is_sent_once_and_the_next_free_one_is_offered(homes: Path) -> None:
    prov = str(homes / "prov")
    send = ("send", "--home", prov, "--to", DISTRICT, "--subject", "A", "--signer", "X",
            "--no-deliver", "--json")
    first = json.loads(ok(*send, "--number", "5", "--notation", "VP").output)
    assert first["sent"][0]["code"] == "5/VP"
    again = run(*send, "--number", "5", "--notation", "VP")
    assert again.exit_code == 1 and "has sent a document 5/VP" in again.output
    assert "the next number (6)" in again.output
    following = json.loads(ok(*send).output)  # no --number: the next free one
    assert following["sent"][0]["code"].startswith("6/")
    with Node.from_home(prov) as node:
        assert node.outbox().total == 2 and node.next_number() == "7"


def test_d16_a_recall_that_asks_nobody_says_why(tmp_path: Path, pki: Pki) -> None:
    from docflow.errors import LifecycleError
    from tests.conftest import node_pair

    province, district = node_pair(pki, tmp_path)
    with province, district:
        envelope = sample_envelope(date=pki.now.date())
        ref = province.send(envelope.info, envelope.attachments).document_ref
        province.deliver()
        assert len(province.recall(ref, "ban hành nhầm")) == 1
        with pytest.raises(LifecycleError, match=r"asked of 1 recipient\(s\) already"):
            province.recall(ref, "again")
        for _ in range(3):
            province.deliver()
            district.deliver()
        with pytest.raises(LifecycleError,
                           match=r"no recipient holds it any more to recall \(1 recalled\)"):
            province.recall(ref, "again")


def test_d17_resend_takes_several_ids_all_or_an_organ_and_says_why_not(
        homes: Path) -> None:
    from docflow.store import RetryPolicy, Store

    prov = homes / "prov"
    for number in ("1", "2", "3"):
        ok("send", "--home", str(prov), "--to", DISTRICT, "--subject", "A", "--signer", "X",
           "--no-deliver", "--number", number)
    config = load_config(prov)
    with Store.open(config.database, retry=RetryPolicy(max_attempts=1)) as store:
        for claim in store.outbox.claim_due("test", limit=2):  # 1 and 2: dead letters
            assert store.outbox.fail(claim.delivery_id, "TransportError: away") == "failed"
    queued = run("resend", "--home", str(prov), "3")
    assert queued.exit_code == 4
    assert "delivery 3 is not a dead letter: it is waiting for its first attempt" in (
        queued.output)
    assert "event 'resend' is not allowed" not in queued.output
    both = json.loads(ok("resend", "--home", str(prov), "--to", DISTRICT, "--json").output)
    assert both == {"queued": [1, 2], "refused": {}}
    mixed = run("resend", "--home", str(prov), "1", "99", "--json")
    assert mixed.exit_code == 3 and set(json.loads(mixed.output)["refused"]) == {"1", "99"}
    assert run("resend", "--home", str(prov)).exit_code == 2  # ids, --all or --to
    assert json.loads(ok("resend", "--home", str(prov), "--all", "--json").output) == {
        "queued": [], "refused": {}}


# ------------------------------------------------------------------------ M1, M6, D29


def test_m1_m6_deliver_runs_one_pass_and_stuck_lists_what_waits(homes: Path) -> None:
    prov = str(homes / "prov")
    assert "nothing is stuck" in ok("stuck", "--home", prov).output
    ok("send", "--home", prov, "--to", DISTRICT, "--subject", "A", "--signer", "X",
       "--no-deliver")
    (waiting,) = json.loads(ok("stuck", "--home", prov, "--json").output)
    assert (waiting["kind"], waiting["to"], waiting["state"], waiting["attempts"]) == (
        "document", DISTRICT, "queued", 0)
    passed = run("deliver", "--home", prov)  # nobody listens at the district's address
    assert passed.exit_code == 7 and "delivered 0, failed 1" in passed.output
    assert "connection refused (nothing listens)" in passed.output
    (waiting,) = json.loads(ok("stuck", "--home", prov, "--json").output)
    assert (waiting["state"], waiting["attempts"]) == ("retrying", 1)
    assert "connection refused" in waiting["last_error"]
    shown = ok("stuck", "--home", prov, "--to", DISTRICT).output
    assert "retrying" in shown and "+07" in shown  # the next attempt in the node's zone
    assert json.loads(ok("stuck", "--home", prov, "--to", PROVINCE, "--json").output) == []
    assert json.loads(ok("deliver", "--home", prov, "--json").output) == {
        "delivered": 0, "failed": 0, "errors": []}  # the retry waits out its backoff


def test_d29_cells_are_cut_at_a_word_with_an_ellipsis() -> None:
    from docflow.cli._output import clip

    assert clip("cannot reach 000.00.05.H41: connection refused", 30) == (
        "cannot reach 000.00.05.H41…")
    assert clip("short", 30) == "short" and len(clip("x" * 50, 20)) == 20


# ------------------------------------------------------------- D20-D28, D30, D31, D34, M11


def test_d20_a_passphrase_exported_for_another_home_does_not_break_this_one(
        homes: Path) -> None:
    from docflow.errors import CredentialsError
    from docflow.security import Credentials

    prov = homes / "prov"
    sent = ok("send", "--home", str(prov), "--to", DISTRICT, "--subject", "A", "--signer",
              "X", "--no-deliver", env={"DOCFLOW_KEY_PASSPHRASE": "for another home"})
    assert len(sent.stdout.split()) == 1  # the message id
    with pytest.raises(CredentialsError, match="the key is not encrypted") as refused:
        Credentials.load(prov / "keys" / "organ.key", prov / "keys" / "organ.crt",
                         passphrase="given")  # noqa: S106 - a test value
    assert "unset" in (refused.value.hint or "")


def test_d21_m11_samples_of_each_kind_are_their_own_documents(tmp_path: Path) -> None:
    from docflow.envelope import parse_envelope
    from docflow.security import create_ca, issue_certificate

    packets = {}
    for kind in ("decision", "letter", "report"):
        out = tmp_path / f"{kind}.edxml"
        ok("sample", kind, "-o", str(out))
        packets[kind] = parse_envelope(out.read_bytes())
    letter = packets["letter"].info
    assert (letter.document_type.name, letter.code_notation) == ("Công văn", "UBND-VP")
    assert not letter.subject.startswith("Quyết định")
    assert len({p.info.document_id for p in packets.values()}) == 3
    assert len({p.message_id for p in packets.values()}) == 3  # no replay of sample-0001
    # --pretty: one element per line, valid, and signed after indenting
    ca = create_ca("CA", now=dt.datetime.now(dt.UTC))
    organ = issue_certificate(ca, PROVINCE, "UBND tỉnh", now=dt.datetime.now(dt.UTC))
    organ.save(tmp_path / "k.pem", tmp_path / "c.pem")
    (tmp_path / "ca.pem").write_bytes(ca.certificate_pem())
    pretty = tmp_path / "pretty.edxml"
    ok("sample", "letter", "--pretty", "--key", str(tmp_path / "k.pem"), "--cert",
       str(tmp_path / "c.pem"), "-o", str(pretty))
    assert pretty.read_text(encoding="utf-8").count("\n") > 40
    ok("validate", str(pretty))
    ok("verify", str(pretty), "--trust", str(tmp_path / "ca.pem"))


def test_d22_a_packet_without_the_edxml_prefix_is_warned_about(tmp_path: Path) -> None:
    out = tmp_path / "d.edxml"
    ok("sample", "decision", "-o", str(out))
    bare = out.read_bytes().replace(b"<edXML:", b"<").replace(b"</edXML:", b"</").replace(
        b' xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"',
        b' xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"')
    out.write_bytes(bare)
    checked = run("validate", str(out), "--json")
    assert checked.exit_code == 0, checked.output
    assert "without the edXML: prefix" in json.loads(checked.stdout)["warnings"][0]
    conformed = run("conform", str(out), "--json")
    codes = [f["code"] for f in json.loads(conformed.stdout)["findings"]]
    assert "M.edXML.unprefixed" in codes and conformed.exit_code == 10


def test_d23_a_header_file_takes_to_place_as_the_option_is_named(homes: Path) -> None:
    header = homes / "header.toml"
    header.write_text('subject = "S"\nsigner = "A"\nto_place = "Lưu: VT"\n',
                      encoding="utf-8")
    ok("send", "--home", str(homes / "prov"), "--to", DISTRICT, "--header", str(header),
       "--no-deliver")
    with Node.from_home(homes / "prov") as node:
        (document,) = node.outbox().items
        assert node.stored(document.id).info.to_places == ("Lưu: VT",)


def test_d25_d26_axis_status_and_systems_files_say_what_is_wrong(
        homes: Path, tmp_path: Path) -> None:
    from tests.postgres import free_port

    systems = tmp_path / "systems.toml"
    database = tmp_path / "axis.db"
    for text, said in (
            ('[[system]]\nsystem_id = "000.00.00.H41"\nsecret = "s"\n',
             "unknown table(s) in the systems file: system"),
            ('[[systems]]\nsecret = "s"\n', "[[systems]] #1: missing system_id"),
            ("", "has no [[systems]]")):
        systems.write_text(text, encoding="utf-8")
        refused = run("axis", "serve", "--systems", str(systems), "--database",
                      f"sqlite:///{database}", "--port", str(free_port()))
        assert refused.exit_code == 5 and said in refused.output, refused.output
        assert "KeyError" not in refused.output and not database.exists()
    systems.write_text('[[systems]]\nsystem_id = "000.00.00.H41"\nsecret = "s"\n',
                       encoding="utf-8")
    import socket

    with socket.socket() as held:  # the port is in use: exit 6, and no database made
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = run("axis", "serve", "--systems", str(systems), "--database",
                   f"sqlite:///{database}", "--port", str(held.getsockname()[1]))
    assert busy.exit_code == 6 and "[server] port" not in busy.output
    assert "--port" in busy.output and not database.exists()


def test_d27_d28_a_missing_file_is_not_found_and_json_times_have_a_t(homes: Path) -> None:
    assert run("validate", str(homes / "nothing.edxml")).exit_code == 3
    assert run("audit", "verify", "--home", str(homes / "prov"), "--checkpoint",
               str(homes / "nothing.json")).exit_code == 3
    ok("send", "--home", str(homes / "prov"), "--to", DISTRICT, "--subject", "A", "--signer",
       "X", "--no-deliver")
    shown = json.loads(ok("trace", "--home", str(homes / "prov"), "1", "--local",
                          "--json").output)
    stamp = shown["document"]["created_at"]
    assert "T" in stamp and dt.datetime.fromisoformat(stamp).tzinfo is not None


def test_d31_d34_demo_help_and_a_due_date_that_makes_no_sense(homes: Path) -> None:
    import subprocess
    import sys

    helped = subprocess.run([sys.executable, "-m", "docflow.demo", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert helped.returncode == 0 and "--keep" in helped.stdout
    assert "docflow demo" in helped.stdout
    assert "--keep" in ok("demo", "--help").output
    send = ("send", "--home", str(homes / "prov"), "--to", DISTRICT, "--subject", "A",
            "--signer", "X", "--no-deliver", "--date", "2020-12-05")
    before = run(*send, "--due", "2020-12-01")
    assert before.exit_code == 1 and "is before the issue date" in before.output
    past = ok(*send, "--due", "2020-12-20", "--number", "9")
    assert "OVERDUE from the start" in past.output


def test_readme_systems_file_serves_every_dialect(tmp_path: Path) -> None:
    """README inaccuracy 11: the README's complete systems file is read by every dialect
    (the test reads it from the README, so the two cannot drift apart)."""
    import re

    from docflow.bootstrap import read_systems

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("**The systems file**", 1)[1]
    text = re.search(r"```toml\n(.*?)```", block, re.DOTALL)
    assert text is not None
    path = tmp_path / "systems.toml"
    path.write_text(text.group(1), encoding="utf-8")
    for dialect in ("vdxp", "lgsp-token", "wso2"):
        read = read_systems(path, dialect)
        assert [s.system_id for s in read.systems] == ["000.00.00.H41", "vxp.saas.03"]
        assert len(read.accounts) == 1 and len(read.consumers) == 1
        assert read.locations["secret"] == "header"  # noqa: S105 - a location


def test_a_systems_file_naming_a_malformed_organ_is_refused_with_its_place(
        tmp_path: Path) -> None:
    """An organ code a system speaks for is checked when the file is read, not when a
    client's first call reaches the queue."""
    from docflow.bootstrap import read_systems
    from docflow.errors import ConfigError

    path = tmp_path / "systems.toml"
    path.write_text('[[systems]]\nsystem_id = "vxp.saas.03"\nsecret = "s"\n'
                    'organs = ["000.00.00.H41", "000.0.00.H41"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[\[systems\]\] 'vxp.saas.03': organs: "
                       r"'000.0.00.H41' is not a valid organ code") as refused:
        read_systems(path, "vdxp")
    assert refused.value.hint is not None and "VVV.ZZ.YY.Mxx" in refused.value.hint


# ----------------------------------------------------------------------- M5, M12, M13

QN_DIRECTORY = """
[[hubs]]
code = "000.00.90.H41"
name = "LGSP Quảng Nam"
endpoint = "http://127.0.0.1:18102/"

[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh"
level = "province"
hub = "000.00.90.H41"
endpoint = "http://127.0.0.1:18100/"

[[organs]]
code = "000.00.05.H41"
name = "UBND huyện"
level = "district"
hub = "000.00.90.H41"
endpoint = "http://127.0.0.1:18101/"
"""


def test_m5_m12_m13_json_everywhere_hubs_listed_and_one_shared_directory(
        tmp_path: Path) -> None:
    directory = tmp_path / "qn.toml"
    directory.write_text(QN_DIRECTORY, encoding="utf-8")
    ok("pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca"), "--ecdsa")
    made = json.loads(ok("init", str(tmp_path / "prov"), "--organ", PROVINCE, "--ca",
                         str(tmp_path / "ca"), "--directory", str(directory),
                         "--shared-directory", "--json").stdout)
    assert made["directory"] == str(directory.resolve()) and made["port"] == 18100
    assert not (tmp_path / "prov" / "directory.toml").exists()  # referred to, not copied
    ok("init", str(tmp_path / "dist"), "--organ", DISTRICT, "--ca", str(tmp_path / "ca"),
       "--directory", str(directory))  # this one keeps its own copy
    checked = json.loads(ok("config", "check", "--home", str(tmp_path / "prov"),
                            "--json").stdout)
    assert checked["ok"] and all(c["ok"] for c in checked["checks"])
    assert json.loads(ok("doctor", "--json").stdout)["ok"]
    signed = json.loads(ok("audit", "checkpoint", "--home", str(tmp_path / "prov"), "-o",
                           str(tmp_path / "cp.json"), "--json").stdout)
    assert signed["organ"] == PROVINCE and signed["file"] == str(tmp_path / "cp.json")
    listed = json.loads(ok("organs", "--home", str(tmp_path / "prov"), "--json").stdout)
    hubs = [row for row in listed if row["level"] == "hub"]
    assert [(h["code"], h["endpoint"]) for h in hubs] == [("000.00.90.H41",
                                                           "http://127.0.0.1:18102/")]
    assert len(json.loads(ok("organs", "--home", str(tmp_path / "prov"), "--level", "hub",
                             "--json").stdout)) == 1
    # The province publishes a new file: the district's endpoint moved.
    current = tmp_path / "qn-2027.toml"
    current.write_text(QN_DIRECTORY.replace("18101", "18201"), encoding="utf-8")
    dry = json.loads(ok("directory", "sync", "--home", str(tmp_path / "dist"), "--from",
                        str(current), "--dry-run", "--json").stdout)
    assert dry["changes"] == [f"organ {DISTRICT}: endpoint http://127.0.0.1:18101/ -> "
                              "http://127.0.0.1:18201/"] and not dry["written"]
    ok("directory", "sync", "--home", str(tmp_path / "dist"), "--from", str(current))
    assert "18201" in (tmp_path / "dist" / "directory.toml").read_text(encoding="utf-8")
    assert "is up to date" in ok("directory", "sync", "--home", str(tmp_path / "dist"),
                                 "--from", str(current)).stdout
    wrong = tmp_path / "other.toml"
    wrong.write_text(QN_DIRECTORY.replace(DISTRICT, "000.00.06.H41"), encoding="utf-8")
    refused = run("directory", "sync", "--home", str(tmp_path / "dist"), "--from", str(wrong))
    assert refused.exit_code == 5 and "does not list this home's organ" in refused.output
