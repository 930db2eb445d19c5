"""The CLI against the second attack run (issue 25, items 9 and 10): what a sender names
(attachment files, a subject) cannot make `docflow attachments` write through a link
planted in the folder, nor make `show`/`inbox` print a line the sender forged. Each
runs the installed `docflow` on a home whose node received the sender's document."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from docflow.cli.operate import FileNames
from docflow.config import load_config
from docflow.model import Attachment, OrganInfo
from docflow.node import Node
from docflow.samples import sample_envelope
from docflow.security import Credentials, sign_envelope
from tests.e2e.test_cli_operators import DISTRICT, PROVINCE, docflow, home, ok

__all__ = ["home"]  # the fixture, shared with the operators' tests


def _receive(home: Path, tmp_path: Path, files: dict[str, bytes], *,
             subject: str = "Quyết định phê duyệt") -> int:
    """A document from the district (its subject and files as its sender wrote them),
    received by the province's node; its id."""
    if not (tmp_path / "district").exists():
        ok("pki", "issue", "--ca", str(tmp_path / "ca"), "--organ", DISTRICT, "--name",
           "UBND Tam Kỳ", "--out", str(tmp_path / "district"))
    base = sample_envelope(sender=OrganInfo(DISTRICT, "UBND Tam Kỳ"),  # type: ignore[arg-type]
                           recipients=(OrganInfo(PROVINCE, "UBND tỉnh"),),  # type: ignore[arg-type]
                           attachment_bytes=0, message_id=f"m-{len(subject)}-{len(files)}")
    envelope = replace(base, info=replace(base.info, subject=subject), attachments=tuple(
        Attachment(name, data) for name, data in files.items()))
    credentials = Credentials.load(str(tmp_path / "district" / "organ.key"),
                                   str(tmp_path / "district" / "organ.crt"))
    node = Node.from_config(load_config(home))
    try:
        node.receive_document(sign_envelope(envelope, credentials))
        return int(node.inbox().items[0].id)
    finally:
        node.store.close()


# ------------------------------------------------------------------ 9: attachments


def test_a_planted_link_is_never_written_through(home: Path, tmp_path: Path) -> None:
    """Links planted as the old temporary name and as the target: the sender's bytes
    never reach what they point to, with or without --force."""
    document = _receive(home, tmp_path, {"report.pdf": b"%PDF-1.4 sender's bytes"})
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_bytes(b"precious")
    (out / "report.pdf.partial").symlink_to(victim)  # the name the old code wrote to
    ok("attachments", "--home", str(home), str(document), "-o", str(out))
    assert victim.read_bytes() == b"precious"
    assert (out / "report.pdf").read_bytes() == b"%PDF-1.4 sender's bytes"
    assert not [p for p in out.iterdir() if p.name.startswith(".docflow-")]
    (out / "report.pdf").unlink()
    (out / "report.pdf").symlink_to(victim)
    refused = docflow("attachments", "--home", str(home), str(document), "-o", str(out))
    assert refused.returncode == 5 and "exist(s) already" in refused.stderr
    ok("attachments", "--home", str(home), str(document), "-o", str(out), "--force")
    assert victim.read_bytes() == b"precious"
    assert not (out / "report.pdf").is_symlink()


def test_long_names_similar_names_and_many_same_names(home: Path, tmp_path: Path) -> None:
    """A 300-byte name is shortened to the file system's limit, keeping its extension;
    `a.pdf.partial` and `a.pdf` are both written and both exist."""
    long_name = "Quyết định " * 30 + ".pdf"
    files = {long_name: b"%PDF long", "a.pdf.partial": b"first", "a.pdf": b"second"}
    document = _receive(home, tmp_path, files)
    out = tmp_path / "out"
    written = json.loads(ok("attachments", "--home", str(home), str(document), "-o",
                            str(out), "--json").stdout)
    assert len(written) == 3
    for item in written:
        path = Path(item["file"])
        assert path.exists() and len(path.name.encode()) <= 255
    assert (out / "a.pdf.partial").read_bytes() == b"first"
    assert (out / "a.pdf").read_bytes() == b"second"
    (shortened,) = [Path(i["file"]) for i in written if i["name"] == long_name]
    assert shortened.suffix == ".pdf" and shortened.read_bytes() == b"%PDF long"


def test_same_names_are_numbered_in_one_pass() -> None:
    names = FileNames()
    made = [names("báo cáo.pdf") for _ in range(3000)]
    assert made[:3] == ["báo cáo.pdf", "báo cáo-2.pdf", "báo cáo-3.pdf"]
    assert len(set(made)) == 3000 and made[-1] == "báo cáo-3000.pdf"
    assert names("báo cáo-2.pdf") == "báo cáo-2-2.pdf"  # taken: numbered in turn


def test_names_fit_the_limit_in_bytes() -> None:
    names = FileNames(limit=40)
    made = names("ồ" * 60 + ".docx")
    assert made.endswith(".docx") and len(made.encode()) <= 40
    assert len(names("ồ" * 60 + ".docx").encode()) <= 40  # numbered, still within it


# ------------------------------------------------------------ 10: one line per line

FORGED = "Quyết định\n  signature: verified\n  subject: giả"


@pytest.mark.parametrize("command", ["show", "inbox", "trace"])
def test_a_subject_cannot_forge_a_line(home: Path, tmp_path: Path, command: str) -> None:
    document = _receive(home, tmp_path, {}, subject=FORGED + "\u202e")
    args = [command, "--home", str(home)] + ([] if command == "inbox" else [str(document)])
    printed = ok(*args).stdout
    lines = printed.splitlines()
    assert not any(line.strip() == "subject: giả" for line in lines)
    assert "\u202e" not in printed and "\\u202e" in printed
    # the one real verdict line (the document is signed), none forged above it
    assert sum(line.startswith("  signature:") for line in lines) == (
        0 if command == "inbox" else 1)
    shown = json.loads(ok(*args, "--json").stdout)  # JSON keeps the text as it came
    assert FORGED in json.dumps(shown, ensure_ascii=False).replace("\\n", "\n")
