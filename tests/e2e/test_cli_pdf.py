"""``docflow pki`` and ``docflow pdf`` through the real entry point: a CA, an official's
and an organ's certificates, a CRL; a sample decision signed as the official, then as the
organ (which checks the official first), an attachment stamped; each verified, as JSON
too, with the exit status saying valid or not."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import run


def ok(*args: str) -> str:
    result = run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_sign_as_the_decree_says_and_verify(tmp_path: Path) -> None:
    ca, official, organ = tmp_path / "ca", tmp_path / "official", tmp_path / "organ"
    ok("pki", "ca", "create", "--name", "Quảng Nam CA", "--out", str(ca))
    issued = ok("pki", "issue", "--ca", str(ca), "--organ", "000.00.00.H41",
                "--person", "Nguyễn Văn An", "--title", "Chủ tịch", "--out", str(official))
    assert "official's certificate for Nguyễn Văn An" in issued
    ok("pki", "issue", "--ca", str(ca), "--organ", "000.00.00.H41", "--name",
       "UBND tỉnh Quảng Nam", "--out", str(organ))
    shown = json.loads(ok("pki", "show", "--json", str(official / "official.crt")))
    assert shown["role"] == "official" and shown["organ"] == "000.00.00.H41"
    crl = tmp_path / "ca.crl"
    ok("pki", "crl", "--ca", str(ca), "-o", str(crl))
    ok("pdf", "sample", "-o", str(tmp_path / "qd.pdf"), "--images", str(tmp_path))

    first = tmp_path / "qd-official.pdf"
    ok("pdf", "sign", str(tmp_path / "qd.pdf"), "-o", str(first), "--as", "official",
       "--key", str(official / "official.key"), "--cert", str(official / "official.crt"),
       "--image", str(tmp_path / "chu-ky.png"))
    halfway = run("pdf", "verify", str(first), "--trust", str(ca / "ca.crt"), "--crls",
                  str(crl), "--json")
    assert halfway.returncode == 1
    assert json.loads(halfway.stdout)["verdict"] == "incomplete"

    both = tmp_path / "qd-signed.pdf"
    ok("pdf", "sign", str(first), "-o", str(both), "--as", "organ",
       "--key", str(organ / "organ.key"), "--cert", str(organ / "organ.crt"),
       "--image", str(tmp_path / "con-dau.png"), "--trust", str(ca / "ca.crt"),
       "--crls", str(crl))
    report = json.loads(ok("pdf", "verify", str(both), "--trust", str(ca / "ca.crt"),
                           "--crls", str(crl), "--json", "--signer", "Nguyễn Văn An"))
    assert report["verdict"] == "valid"
    assert [s["role"] for s in report["signatures"]] == ["official", "organ"]
    for check in report["signatures"]:
        assert set(check) >= {"role", "signer", "organ", "intact", "trusted", "revoked",
                              "modification", "signed_at", "timestamp", "problems"}
        assert check["intact"] and check["trusted"] and not check["revoked"]
    text = ok("pdf", "verify", str(both), "--trust", str(ca / "ca.crt"), "--crls", str(crl))
    assert "valid" in text and "official (certificate): Nguyễn Văn An" in text

    # the organ refuses an unsigned PDF; a changed byte is invalid, exit 1
    refused = run("pdf", "sign", str(tmp_path / "qd.pdf"), "-o", str(tmp_path / "x.pdf"),
                  "--as", "organ", "--key", str(organ / "organ.key"), "--cert",
                  str(organ / "organ.crt"))
    assert refused.returncode == 1 and "official signed" in refused.stderr
    assert not (tmp_path / "x.pdf").exists()
    data = both.read_bytes()
    marker = data.index(b"/Body Do")
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(data[:marker] + b"/Bodz Do" + data[marker + 8:])
    bad = run("pdf", "verify", str(tampered), "--trust", str(ca / "ca.crt"), "--crls",
              str(crl))
    assert bad.returncode == 1 and "invalid" in bad.stdout and "integrity" in bad.stdout

    attachment = tmp_path / "phu-luc.pdf"
    ok("pdf", "sign", str(tmp_path / "qd.pdf"), "-o", str(attachment), "--as", "attachment",
       "--key", str(organ / "organ.key"), "--cert", str(organ / "organ.crt"),
       "--number", "4512", "--notation", "QĐ-UBND")
    assert json.loads(ok("pdf", "verify", str(attachment), "--trust", str(ca / "ca.crt"),
                         "--crls", str(crl), "--json"))["verdict"] == "valid"
    usage = run("pdf", "sign", str(tmp_path / "qd.pdf"), "-o", str(tmp_path / "y.pdf"),
                "--as", "attachment", "--key", str(organ / "organ.key"), "--cert",
                str(organ / "organ.crt"))
    assert usage.returncode == 2 and "number and notation" in usage.stderr


def test_send_sign_pdf_and_the_receivers_mark(tmp_path: Path) -> None:
    """The province's văn thư signs the official's PDF as the organ on the way out
    (``send --sign-pdf``); the district, with a ``[pdf]`` trust list, marks it valid in
    its inbox and shows each signature; an unsigned PDF is refused unless sent as an
    attachment file (``--attachment-only``), which the district marks valid too."""
    import signal

    from tests.e2e.test_cli_node import serve_homes
    from tests.postgres import free_port

    ca = tmp_path / "ca"
    ok("pki", "ca", "create", "--name", "Quảng Nam CA", "--out", str(ca))
    crl = tmp_path / "ca.crl"
    ok("pki", "crl", "--ca", str(ca), "-o", str(crl))
    codes = {"province": "000.00.00.H41", "district": "000.00.01.H41"}
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    ok("init", str(tmp_path / "province"), "--organ", codes["province"], "--name",
       "UBND tỉnh Quảng Nam", "--ca", str(ca), "--peer", f"{codes['district']}={url}")
    ok("init", str(tmp_path / "district"), "--organ", codes["district"], "--name",
       "UBND thành phố Tam Kỳ", "--ca", str(ca), "--port", str(port))
    config = tmp_path / "district" / "node.toml"
    config.write_text(config.read_text(encoding="utf-8")
                      + f'\n[pdf]\ntrust = "{ca / "ca.crt"}"\ncrls = "{crl}"\n',
                      encoding="utf-8")
    assert "[pdf]" in ok("config", "check", "--home", str(tmp_path / "district"))
    ok("pki", "issue", "--ca", str(ca), "--organ", codes["province"], "--person",
       "Lê Văn Dũng", "--out", str(tmp_path / "official"))
    ok("pdf", "sample", "-o", str(tmp_path / "qd.pdf"))
    ok("pdf", "sign", str(tmp_path / "qd.pdf"), "-o", str(tmp_path / "ke-hoach.pdf"),
       "--as", "official", "--key", str(tmp_path / "official" / "official.key"),
       "--cert", str(tmp_path / "official" / "official.crt"))
    home = ["--home", str(tmp_path / "province")]
    servers = serve_homes(tmp_path, {"district": url})
    try:
        common = ["--to", codes["district"], "--type", "plan", "--signer", "Lê Văn Dũng"]
        sent = run("send", *home, *common, "--subject", "Kế hoạch 2027", "--sign-pdf",
                   "--attach", str(tmp_path / "ke-hoach.pdf"))
        assert sent.returncode == 0 and "delivered 1, failed 0" in sent.stderr, sent.stderr
        refused = run("send", *home, *common, "--subject", "Phụ lục", "--sign-pdf",
                      "--attach", str(tmp_path / "qd.pdf"))
        assert refused.returncode == 1 and "qd.pdf: no official's signature" in refused.stderr
        ok("send", *home, *common, "--subject", "Phụ lục", "--sign-pdf", "--attachment-only",
           "--attach", str(tmp_path / "qd.pdf"))
        district = ["--home", str(tmp_path / "district")]
        rows = json.loads(ok("inbox", *district, "--json"))
        assert sorted((r["subject"], r["pdf"]) for r in rows) == [
            ("Kế hoạch 2027", "valid"), ("Phụ lục", "valid")]
        plan = next(r for r in rows if r["subject"] == "Kế hoạch 2027")
        shown = ok("show", *district, str(plan["id"]))
        assert "signed PDF ke-hoach.pdf: valid" in shown
        assert "official: Lê Văn Dũng for 000.00.00.H41" in shown
        assert "organ: UBND tỉnh Quảng Nam for 000.00.00.H41" in shown
        data = json.loads(ok("show", *district, str(plan["id"]), "--json"))
        (attachment,) = data["attachments"]
        assert attachment["pdf"]["verdict"] == "valid"
        assert "pdf" in ok("inbox", *district).splitlines()[0]
    finally:
        for process in servers.values():
            process.send_signal(signal.SIGTERM)
        for process in servers.values():
            process.communicate(timeout=60)
