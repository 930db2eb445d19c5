"""The docflow command through its real entry point (a subprocess), plus make-demo's module."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCFLOW = Path(sys.executable).with_name("docflow")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DOCFLOW), *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=60)


def test_sample_then_validate(tmp_path: Path) -> None:
    for kind in ("decision", "letter", "report", "status"):
        out = tmp_path / f"{kind}.edxml"
        result = run("sample", kind, "--to", "000.00.01.H41,000.00.05.H41", "-o", str(out))
        assert result.returncode == 0, result.stderr
        checked = run("validate", "--json", str(out))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert report["valid"] is True
        assert report["kind"] == ("status" if kind == "status" else "document")


def test_validate_explains_what_is_wrong_and_where(tmp_path: Path) -> None:
    good = tmp_path / "good.edxml"
    run("sample", "letter", "-o", str(good))
    bad = tmp_path / "bad.edxml"
    bad.write_bytes(good.read_bytes().replace(b"000.00.00.H41", b"000.00.00.h41", 1))
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert "INVALID (SchemaError)" in result.stdout
    assert "OrganId" in result.stdout and "line" in result.stdout
    as_json = json.loads(run("validate", "--json", str(bad)).stdout)
    assert as_json["valid"] is False and as_json["error"] == "SchemaError"
    assert "OrganId" in as_json["path"]


def test_validate_refuses_hostile_file(tmp_path: Path) -> None:
    evil = tmp_path / "xxe.edxml"
    evil.write_bytes(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><edXML>&e;</edXML>')
    result = run("validate", str(evil))
    assert result.returncode == 1
    assert "UnsafeXmlError" in result.stdout and "DOCTYPE" in result.stdout


def test_validate_real_layout_packet() -> None:
    result = run("validate", str(ROOT / "tests" / "data" / "real-layout.edxml"))
    assert result.returncode == 0 and "valid document packet" in result.stdout


def test_bad_organ_code_option_is_a_clear_error(tmp_path: Path) -> None:
    result = run("sample", "letter", "--to", "district-5", "-o", str(tmp_path / "x"))
    assert result.returncode == 1
    assert "not a valid organ code" in result.stderr


def test_doctor() -> None:
    result = run("doctor")
    assert result.returncode == 0, result.stdout
    assert "libxml2" in result.stdout and result.stdout.strip().endswith("ok")


def test_help_and_version() -> None:
    assert "validate" in run("--help").stdout
    assert "0.1.0" in run("--version").stdout


def test_demo_module() -> None:
    result = subprocess.run([sys.executable, "-m", "docflow.demo"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "72  54 completed, 16 processing, 2 rejected" in out
    assert "1 completed/recall refused, 4 recalled/recall agreed" in out
    assert "000.00.90.H41 -> 000.00.00.G22 -> 000.00.90.H43 -> 000.00.00.H43" in out
    assert "copies delivered exactly once: 84/84 (lost 0, duplicated 0)" in out
    assert "sender's view equals the receiver's state: yes" in out
    assert "audit chains intact: yes" in out
    assert "PROBLEM" not in out
    # make demo cleans up after itself (issue 20), and says how to keep the stores
    removed = out.strip().splitlines()[-1]
    assert removed.startswith("removed ") and "--keep" in removed
    assert not Path(removed.split()[1]).exists()


def test_db_upgrade_and_audit_verify(tmp_path: Path) -> None:
    import sqlite3

    from docflow.envelope import build_envelope
    from docflow.samples import sample_envelope
    from docflow.store import Store
    from docflow.store._schema import SCHEMA_REVISION

    url = f"sqlite:///{tmp_path / 'node.db'}"
    result = run("db", "upgrade", "--database", url)
    assert result.returncode == 0, result.stderr
    assert f"revision {SCHEMA_REVISION}" in result.stdout
    with Store(url) as store:
        envelope = sample_envelope()
        store.outbox.record(envelope, build_envelope(envelope))
    ok = run("audit", "verify", "--database", url)
    assert ok.returncode == 0 and "intact: 1 entries" in ok.stdout
    with sqlite3.connect(tmp_path / "node.db") as conn:
        conn.execute("UPDATE audit_log SET organ = 'x' WHERE seq = 1")
    broken = run("audit", "verify", "--json", "--database", url)
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["broken_at"] == 1


def test_audit_checkpoint_then_verify_against_it(tmp_path: Path) -> None:
    from docflow.config import load_config
    from docflow.envelope import build_envelope
    from docflow.samples import sample_envelope
    from docflow.store import Store
    from tests.integration.test_store import _rewrite_chain_from

    run("pki", "ca", "create", "--name", "Quảng Nam test CA", "--out", str(tmp_path / "ca"))
    home = tmp_path / "province"
    made = run("init", str(home), "--organ", "000.00.00.H41", "--name", "UBND tỉnh",
               "--ca", str(tmp_path / "ca"))
    assert made.returncode == 0, made.stderr
    database = load_config(home).database
    with Store.open(database) as store:
        for number in ("1", "2", "3"):
            envelope = sample_envelope(number=number, message_id=f"m-{number}")
            store.outbox.record(envelope, build_envelope(envelope))
    signed = run("audit", "checkpoint", "--home", str(home), "-o", str(tmp_path / "cp.json"))
    assert signed.returncode == 0, signed.stderr
    assert "signed the audit chain at entry 3 as 000.00.00.H41" in signed.stdout
    check = ("audit", "verify", "--database", database, "--checkpoint",
             str(tmp_path / "cp.json"), "--trust", str(tmp_path / "ca" / "ca.crt"))
    assert run(*check).returncode == 0
    no_trust = run("audit", "verify", "--database", database, "--checkpoint",
                   str(tmp_path / "cp.json"))
    assert no_trust.returncode == 5 and "--trust" in no_trust.stderr
    (tmp_path / "none").mkdir()
    nothing = run("audit", "verify", "--database", database, "--checkpoint",
                  str(tmp_path / "none"), "--trust", str(tmp_path / "ca" / "ca.crt"))
    assert nothing.returncode == 3 and "no checkpoint" in nothing.stderr
    with Store(database) as store:
        _rewrite_chain_from(store, 1, "{}")
    assert run("audit", "verify", "--database", database).returncode == 0
    caught = run(*check)
    assert caught.returncode == 1 and "BROKEN at entry 3" in caught.stdout
    assert "rewritten" in caught.stdout


def test_store_commands_refuse_a_database_not_upgraded(tmp_path: Path) -> None:
    result = run("audit", "verify", "--database", f"sqlite:///{tmp_path / 'new.db'}")
    assert result.returncode == 3
    assert "docflow db upgrade" in result.stderr


def test_simulate(tmp_path: Path) -> None:
    directory = tmp_path / "small.toml"
    from docflow.harness import quang_nam

    directory.write_text(quang_nam(districts=2, communes=2, departments=2), encoding="utf-8")
    result = run("simulate", "--directory", str(directory), "--documents", "12",
                 "--faults", "drop=0.1,tamper=0.1", "--seed", "4",
                 "--report", str(tmp_path / "r.json"), "--chart", str(tmp_path / "c.svg"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALL INVARIANTS HOLD" in result.stdout
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["ok"] and report["documents"] == 12
    assert (tmp_path / "c.svg").read_text(encoding="utf-8").startswith("<svg")
    bad = run("simulate", "--documents", "1", "--faults", "explode=1")
    assert bad.returncode == 2 and "unknown fault" in bad.stderr
    # Issue 27, M9/M10: reproducible (seed, directory, mix, version in the report), named
    # invariants, plain progress lines when stderr is not a terminal, recalls on demand.
    mixed = run("simulate", "--directory", str(directory), "--documents", "20", "--seed",
                "6", "--mix", "recall=0.5,reject=0")
    assert mixed.returncode == 0, mixed.stdout + mixed.stderr
    assert f"seed 6, directory {directory}, mix reject=0.0,recall=0.5" in mixed.stdout
    assert "ok   copies delivered exactly once" in mixed.stdout
    assert "/20 sent (" in mixed.stderr and "settling and checking" in mixed.stderr
    changed = re.search(r"(\d+) recalls, (\d+) replacements, 0 rejections", mixed.stdout)
    assert changed is not None and int(changed[1]) + int(changed[2]) >= 5, mixed.stdout
    data = json.loads(run("simulate", "--directory", str(directory), "--documents", "3",
                          "--seed", "6", "--json").stdout)
    assert (data["seed"], data["directory"]) == (6, str(directory)) and data["version"]
    assert run("simulate", "--mix", "recall=2").returncode == 2
    assert run("simulate", "--processes", "--chart", str(tmp_path / "x.svg")).returncode == 2


def test_signed_sample_verifies(tmp_path: Path) -> None:
    run("pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca"))
    run("pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", "000.00.00.H41",
        "--name", "UBND tỉnh", "--out", str(tmp_path / "p"))
    keys = sorted((tmp_path / "p").iterdir())
    key = next(p for p in keys if p.suffix == ".key")
    cert = next(p for p in keys if p.suffix == ".crt")
    out = tmp_path / "signed.edxml"
    result = run("sample", "decision", "--key", str(key), "--cert", str(cert), "-o", str(out))
    assert result.returncode == 0, result.stderr
    checked = run("verify", str(out), "--trust", str(tmp_path / "ca" / "ca.crt"), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["signer"] == "000.00.00.H41"
    half = run("sample", "letter", "--key", str(key), "-o", str(tmp_path / "x.edxml"))
    assert half.returncode == 2 and "go together" in half.stderr


def test_ca_bound_to_its_province(tmp_path: Path) -> None:
    """`pki ca create --organs` writes name constraints; `pki show` prints them; a trust
    folder of two provinces' CAs refuses one's certificate for the other's organ."""
    run("pki", "ca", "create", "--name", "Quảng Nam CA", "--organs", "*.*.*.H41", "--ecdsa",
        "--out", str(tmp_path / "qn"))
    made = run("pki", "ca", "create", "--name", "Đà Nẵng CA", "--organs", "*.*.*.H43",
               "--ecdsa", "--out", str(tmp_path / "dn"))
    assert "for *.*.*.H43" in made.stdout
    shown = run("pki", "show", str(tmp_path / "dn" / "ca.crt"))
    assert "organs:   *.*.*.H43" in shown.stdout
    bad = run("pki", "ca", "create", "--name", "x", "--organs", "000.*.*.H41", "--out",
              str(tmp_path / "bad"))
    assert bad.returncode == 2 and "name constraint" in bad.stderr
    assert not (tmp_path / "bad").exists()
    trust = tmp_path / "trust"
    trust.mkdir()
    for province in ("qn", "dn"):
        shutil.copy(tmp_path / province / "ca.crt", trust / f"{province}.crt")
    # The Đà Nẵng CA refuses to issue for a Quảng Nam organ (issue 27, D9); a forger's
    # certificate made regardless is what receivers must refuse.
    refused_issue = run("pki", "issue", "--ca", str(tmp_path / "dn"), "--organ",
                        "000.00.00.H41", "--ecdsa", "--name", "UBND tỉnh Quảng Nam (giả)",
                        "--out", str(tmp_path / "forged"))
    assert refused_issue.returncode != 0 and "*.*.*.H43" in refused_issue.stderr
    from docflow.security import Credentials, KeyType, issue_certificate

    forged = issue_certificate(
        Credentials.load(tmp_path / "dn" / "ca.key", tmp_path / "dn" / "ca.crt"),
        "000.00.00.H41", "UBND tỉnh Quảng Nam (giả)", now=dt.datetime.now(dt.UTC),
        key_type=KeyType.ECDSA_P256, check_scope=False)
    (tmp_path / "forged").mkdir(exist_ok=True)
    forged.save(tmp_path / "forged" / "organ.key", tmp_path / "forged" / "organ.crt")
    packet = tmp_path / "forged.edxml"
    run("sample", "decision", "--key", str(tmp_path / "forged" / "organ.key"),
        "--cert", str(tmp_path / "forged" / "organ.crt"), "-o", str(packet))
    refused = run("verify", str(packet), "--trust", str(trust))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "may not certify organ 000.00.00.H41" in refused.stdout


INTEROP = ROOT / "tests" / "data" / "interop"


def test_conform_says_what_docflow_would_do(tmp_path: Path) -> None:
    """`docflow conform` on packets other systems write: exit 3 accepted with findings,
    1 refused, 0 clean; --accept and --alias change the decision; JSON lists findings."""
    official = run("conform", str(INTEROP / "new.edxml"))
    assert official.returncode == 10, official.stdout + official.stderr
    assert "ACCEPT WITH FINDINGS" in official.stdout
    assert "signature unverifiable" in official.stdout
    refused = run("conform", str(INTEROP / "quirk-docid-other-organ.edxml"),
                  str(INTEROP / "new.edxml"))
    assert refused.returncode == 1
    assert "REFUSES error M.MessageHeader.DocumentId" in refused.stdout
    relaxed = run("conform", "--accept", "M.MessageHeader.DocumentId",
                  str(INTEROP / "quirk-docid-other-organ.edxml"))
    assert relaxed.returncode == 10, relaxed.stdout
    aliased = run("conform", "--json", "--alias", "vxp.saas.03=000.00.07.H41",
                  str(INTEROP / "quirk-system-id.edxml"))
    report = json.loads(aliased.stdout)
    assert report["decision"] == "accept with findings" and report["from"] == "000.00.07.H41"
    assert any(finding["code"] == "M.From.OrganId" and not finding["refuses"]
               for finding in report["findings"])
    ours = tmp_path / "ours.edxml"
    run("sample", "letter", "-o", str(ours))
    clean = run("conform", str(ours))
    assert clean.returncode == 0 and "ACCEPT" in clean.stdout, clean.stdout
    evil = tmp_path / "xxe.edxml"
    evil.write_bytes(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><edXML>&e;</edXML>')
    hostile = run("conform", str(evil))
    assert hostile.returncode == 1 and "UnsafeXmlError" in hostile.stdout
    assert "strict" in run("validate", "--help").stdout.replace("\n", " ")
    assert "docflow conform" in run("validate", "--help").stdout


def test_show_and_inbox_tell_the_verdict_and_findings(tmp_path: Path) -> None:
    from docflow.config import load_config
    from docflow.node import Node
    from docflow.security import TrustPolicy

    run("pki", "ca", "create", "--name", "CA", "--ecdsa", "--out", str(tmp_path / "ca"))
    home = tmp_path / "province"
    assert run("init", str(home), "--organ", "000.00.00.H41", "--name", "UBND tỉnh",
               "--ca", str(tmp_path / "ca")).returncode == 0
    node = Node.from_config(load_config(home))
    try:
        node.receive_document((INTEROP / "quirk-code-number.edxml").read_bytes(),
                              trust_policy=TrustPolicy.CHANNEL)
        (document,) = node.inbox().items
    finally:
        node.store.close()
    listed = run("inbox", "--home", str(home))
    assert "unverifiable" in listed.stdout, listed.stdout + listed.stderr
    shown = run("show", "--home", str(home), str(document.id))
    assert "signature: unverifiable" in shown.stdout
    assert "warning M.Code.CodeNumber" in shown.stdout
    as_json = json.loads(run("show", "--json", "--home", str(home), str(document.id)).stdout)
    assert as_json["document"]["signature"] == "unverifiable"
    assert {f["code"] for f in as_json["document"]["findings"]} >= {"M.Code.CodeNumber"}
    assert all(isinstance(f["severity"], str) for f in as_json["document"]["findings"])


def test_axis_check_and_agencies_from_a_home(tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    """A home with [axis] (the secret from the environment): `docflow axis check` says
    each thing that works, and what does not, with exit status 1; `axis agencies`."""
    from docflow.emulators import AxisApp, AxisSystem
    from docflow.store import Store, sqlite_url
    from tests.integration.test_soap import Server

    store = Store.open(sqlite_url(tmp_path / "axis.db"))
    server = Server(AxisApp("000.00.00.G22", store, [
        AxisSystem("vxp.qn.01", "the-secret", name="UBND tỉnh", organs=("000.00.00.H41",))]))
    try:
        run("pki", "ca", "create", "--name", "CA", "--ecdsa", "--out", str(tmp_path / "ca"))
        home = tmp_path / "province"
        run("init", str(home), "--organ", "000.00.00.H41", "--name", "UBND tỉnh",
            "--ca", str(tmp_path / "ca"))
        with (home / "node.toml").open("a", encoding="utf-8") as file:
            file.write(f'[axis]\ndialect = "vdxp"\nurl = "{server.url}"\n'
                       'system_id = "vxp.qn.01"\nsecret_env = "TEST_AXIS_SECRET"\n')
        env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
        missing = subprocess.run([str(DOCFLOW), "axis", "check", "--home", str(home)],
                                 capture_output=True, text=True, env=env, timeout=60)
        assert missing.returncode == 5 and "TEST_AXIS_SECRET" in missing.stderr
        good = subprocess.run([str(DOCFLOW), "axis", "check", "--home", str(home)],
                              capture_output=True, text=True, timeout=60,
                              env={**env, "TEST_AXIS_SECRET": "the-secret"})
        assert good.returncode == 0, good.stdout + good.stderr
        for line in ("ok   reachable", "ok   clock", "ok   authentication", "ok   backlog"):
            assert line in good.stdout, good.stdout
        wrong = subprocess.run([str(DOCFLOW), "axis", "check", "--home", str(home)],
                               capture_output=True, text=True, timeout=60,
                               env={**env, "TEST_AXIS_SECRET": "not-it"})
        assert wrong.returncode == 1 and "FAIL authentication" in wrong.stdout
        listed = subprocess.run([str(DOCFLOW), "axis", "agencies", "--json", "--home",
                                 str(home)], capture_output=True, text=True, timeout=60,
                                env={**env, "TEST_AXIS_SECRET": "the-secret"})
        assert {row["code"] for row in json.loads(listed.stdout)} == {"000.00.00.H41"}
    finally:
        server.close()
        store.close()


def test_axis_agencies_sync_imports_into_the_directory(tmp_path: Path) -> None:
    """`axis agencies --sync` adds the organs the home's directory lacks (placed under
    their nearest known ancestor, reached through the axis hub), once."""
    from docflow.emulators import AxisApp, AxisSystem
    from docflow.routing import Directory
    from docflow.store import Store, sqlite_url
    from tests.integration.test_soap import Server

    store = Store.open(sqlite_url(tmp_path / "axis.db"))
    app = AxisApp("000.00.00.G22", store, [
        AxisSystem("vxp.qn.01", "the-secret", name="UBND tỉnh Quảng Nam",
                   organs=("000.00.00.H41",))])
    for code, name in (("000.00.01.H41", "UBND thành phố Tam Kỳ"),
                       ("000.01.01.H41", "UBND phường An Mỹ"),
                       ("000.00.00.H20", "UBND tỉnh khác")):
        store.agencies.register("000.00.00.G22", code, owner="", name=name)
    server = Server(app)
    directory = tmp_path / "qn.toml"
    directory.write_text('[[hubs]]\ncode = "000.00.00.G22"\nname = "Trục quốc gia"\n\n'
                         '[[organs]]\ncode = "000.00.00.H41"\nname = "UBND tỉnh Quảng Nam"\n'
                         'level = "province"\n', encoding="utf-8")
    try:
        run("pki", "ca", "create", "--name", "CA", "--ecdsa", "--out", str(tmp_path / "ca"))
        home = tmp_path / "province"
        made = run("init", str(home), "--organ", "000.00.00.H41", "--directory", str(directory),
                   "--ca", str(tmp_path / "ca"))
        assert made.returncode == 0, made.stderr
        with (home / "node.toml").open("a", encoding="utf-8") as file:
            file.write(f'[axis]\ndialect = "vdxp"\nurl = "{server.url}"\n'
                       'system_id = "vxp.qn.01"\nsecret_env = "TEST_AXIS_SECRET"\n')
        env = {**os.environ, "PYTHONIOENCODING": "utf-8", "TEST_AXIS_SECRET": "the-secret"}
        command = [str(DOCFLOW), "axis", "agencies", "--home", str(home), "--sync", "--hub",
                   "000.00.00.G22", "--json"]
        first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        assert sorted(report["added"]) == ["000.00.00.H20", "000.00.01.H41", "000.01.01.H41"]
        assert report["known"] == 1
        loaded = Directory.from_toml(home / "directory.toml")
        assert loaded.entry("000.01.01.H41").organ.parent == loaded.entry("000.00.01.H41").code
        assert str(loaded.entry("000.00.00.H20").hub) == "000.00.00.G22"
        again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert json.loads(again.stdout)["added"] == []
        text = subprocess.run(command[:-1], capture_output=True, text=True, env=env, timeout=60)
        assert "0 organ(s) added" in text.stdout and "4 already known" in text.stdout
        unknown_hub = subprocess.run([*command[:-2], "000.00.90.H41"], capture_output=True,
                                     text=True, env=env, timeout=60)
        assert unknown_hub.returncode == 5 and "not a hub" in unknown_hub.stderr
    finally:
        server.close()
        store.close()


def test_axis_agencies_sync_closes_an_old_code_into_the_new(tmp_path: Path) -> None:
    """Issue 30, part 6: the emulated axis lists an organ with its `oldCode` (registered
    with it by the system that holds both codes); `axis agencies --sync` closes the old
    organ into the new one, its department following; a system cannot name another's
    organ as its old code."""
    from docflow.emulators import AxisApp, AxisSystem
    from docflow.emulators._queue import RefusalError
    from docflow.routing import Directory
    from docflow.store import Store, sqlite_url
    from tests.integration.test_soap import Server

    store = Store.open(sqlite_url(tmp_path / "axis.db"))
    ministry = AxisSystem("vxp.bo.01", "s", name="Bộ", organs=("000.00.00.G05",),
                          register=True)
    province = AxisSystem("vxp.qn.01", "the-secret", name="UBND tỉnh Quảng Nam",
                          organs=("000.00.00.H41",))
    app = AxisApp("000.00.00.G22", store, [province, ministry])
    server = Server(app)
    try:
        # the ministry's new code is under its old one's system here (G05 -> G05's unit)
        app.queue.register(ministry, "000.01.00.G05", parent="", name="Bộ (mã mới)",
                           mail="", old_code="000.00.00.G05")
        with pytest.raises(RefusalError, match=r"oldCode 000\.00\.00\.H41"):
            app.queue.register(ministry, "000.02.00.G05", parent="", name="x", mail="",
                               old_code="000.00.00.H41")
        directory = tmp_path / "qn.toml"
        directory.write_text(
            '[[organs]]\ncode = "000.00.00.H41"\nname = "UBND tỉnh Quảng Nam"\n'
            'level = "province"\n\n[[organs]]\ncode = "000.00.00.G05"\nname = "Bộ cũ"\n'
            'level = "province"\n\n[[organs]]\ncode = "000.00.07.G05"\nname = "Vụ"\n'
            'level = "department"\n', encoding="utf-8")
        run("pki", "ca", "create", "--name", "CA", "--ecdsa", "--out", str(tmp_path / "ca"))
        home = tmp_path / "province"
        assert run("init", str(home), "--organ", "000.00.00.H41", "--directory",
                   str(directory), "--ca", str(tmp_path / "ca")).returncode == 0
        with (home / "node.toml").open("a", encoding="utf-8") as file:
            file.write(f'[axis]\ndialect = "vdxp"\nurl = "{server.url}"\n'
                       'system_id = "vxp.qn.01"\nsecret_env = "TEST_AXIS_SECRET"\n')
        env = {**os.environ, "PYTHONIOENCODING": "utf-8", "TEST_AXIS_SECRET": "the-secret"}
        listed = subprocess.run([str(DOCFLOW), "axis", "agencies", "--home", str(home),
                                 "--json"], capture_output=True, text=True, env=env,
                                timeout=60)
        rows = {row["code"]: row for row in json.loads(listed.stdout)}
        assert rows["000.01.00.G05"]["oldCode"] == "000.00.00.G05"
        synced = subprocess.run([str(DOCFLOW), "axis", "agencies", "--home", str(home),
                                 "--sync", "--json"], capture_output=True, text=True,
                                env=env, timeout=60)
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)["closed"] == [
            {"code": "000.00.00.G05", "successor": "000.01.00.G05"}]
        loaded = Directory.from_toml(home / "directory.toml")
        old = loaded.entry("000.00.00.G05").organ
        assert old.closed is not None and str(old.successor) == "000.01.00.G05"
        assert str(loaded.entry("000.00.07.G05").organ.parent) == "000.01.00.G05"
        assert loaded.entry("000.00.00.H41").organ.closed is None
        again = subprocess.run([str(DOCFLOW), "axis", "agencies", "--home", str(home),
                                "--sync", "--json"], capture_output=True, text=True,
                               env=env, timeout=60)
        assert json.loads(again.stdout)["closed"] == []
    finally:
        server.close()
        store.close()


def test_pki_refuses_to_overwrite_keys_without_force(tmp_path: Path) -> None:
    """Issue 20, item 5: `pki ca create` and `pki issue` over existing keys change nothing
    and say so; `--force` replaces them."""
    ca = tmp_path / "ca"
    assert run("pki", "ca", "create", "--name", "CA", "--ecdsa", "--out", str(ca)).returncode == 0
    key = (ca / "ca.key").read_bytes()
    again = run("pki", "ca", "create", "--name", "CA 2", "--ecdsa", "--out", str(ca))
    assert again.returncode == 5 and "exist(s) already" in again.stderr
    assert "--force" in again.stderr and "nothing was written" in again.stderr
    assert (ca / "ca.key").read_bytes() == key
    issue = ("pki", "issue", "--ca", str(ca), "--organ", "000.00.01.H41", "--ecdsa",
             "--name", "Sở Nội vụ", "--out", str(tmp_path / "organ"))
    assert run(*issue).returncode == 0
    organ_key = (tmp_path / "organ" / "organ.key").read_bytes()
    refused = run(*issue)
    assert refused.returncode == 5 and "organ.key" in refused.stderr
    assert (tmp_path / "organ" / "organ.key").read_bytes() == organ_key
    assert run(*issue, "--force").returncode == 0
    assert (tmp_path / "organ" / "organ.key").read_bytes() != organ_key
    forced = run("pki", "ca", "create", "--name", "CA 2", "--ecdsa", "--out", str(ca), "--force")
    assert forced.returncode == 0 and (ca / "ca.key").read_bytes() != key


def test_audit_verify_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    """Issue 20, item 7: a command that only reads opens existing databases only."""
    typo = tmp_path / "typo.db"
    result = run("audit", "verify", "--database", f"sqlite:///{typo}")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "no database at" in result.stderr and "nothing was created" in result.stderr
    assert not typo.exists()


def test_simulate_says_what_a_small_directory_lacks(tmp_path: Path) -> None:
    """Issue 20, item 4: not `Sample larger than population`, but what is missing."""
    from docflow.harness import quang_nam

    directory = tmp_path / "tiny.toml"
    directory.write_text(quang_nam(districts=1, communes=1, departments=1), encoding="utf-8")
    result = run("simulate", "--directory", str(directory), "--documents", "3")
    assert result.returncode == 5, result.stdout + result.stderr
    assert "too small to simulate" in result.stderr and "2 commune organ(s)" in result.stderr
    assert "Traceback" not in result.stderr
