"""Audit checkpoints time-stamped by an RFC 3161 authority (certomancer's, served on
127.0.0.1): the token is over the checkpoint's signature and verifies against the
authorities' trust list; a token moved to another checkpoint, an authority nobody trusts
and a missing token are refused; through the CLI too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from docflow.errors import SignatureValueError
from docflow.pdf import PdfTrust
from docflow.security import AuditCheckpoint, sign_checkpoint
from docflow.timestamps import check_checkpoint_stamp, pdf_timestamper, stamp_checkpoint
from tests.conftest import Pki
from tests.pdf_pki import OutsidePki, outside_pki

DOCFLOW = Path(sys.executable).with_name("docflow")


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OutsidePki]:
    with outside_pki(tmp_path_factory.mktemp("keys")) as pki:
        yield pki


def test_a_checkpoint_carries_a_verified_time_stamp(outside: OutsidePki, pki: Pki) -> None:
    now = dt.datetime.now(dt.UTC)
    signed = sign_checkpoint(pki.province, 42, "ab" * 32, now=now)
    stamped = stamp_checkpoint(signed, pdf_timestamper(outside.tsa_url))
    authorities = PdfTrust.of([outside.certificate("root")], crls=[outside.crl("root")])
    moment = check_checkpoint_stamp(stamped, authorities)
    assert abs(moment - now) < dt.timedelta(minutes=5)
    again = AuditCheckpoint.from_json(stamped.to_json())  # the token travels in the JSON
    assert again.timestamp == stamped.timestamp
    assert check_checkpoint_stamp(again, authorities) == moment
    other = sign_checkpoint(pki.province, 43, "cd" * 32, now=now)
    with pytest.raises(SignatureValueError, match="over other bytes"):
        check_checkpoint_stamp(dataclasses.replace(other, timestamp=stamped.timestamp),
                               authorities)
    with pytest.raises(SignatureValueError, match="does not chain"):
        check_checkpoint_stamp(stamped, PdfTrust.of([outside.certificate("evil-root", "evil")],
                                                    revocation="soft-fail"))
    with pytest.raises(SignatureValueError, match="carries no time-stamp"):
        check_checkpoint_stamp(signed, authorities)
    backdated = sign_checkpoint(pki.province, 42, "ab" * 32, now=now + dt.timedelta(days=1))
    with pytest.raises(SignatureValueError, match="before the time the checkpoint claims"):
        check_checkpoint_stamp(stamp_checkpoint(backdated, pdf_timestamper(outside.tsa_url)),
                               authorities)


def test_the_cli_stamps_and_checks_a_checkpoint(outside: OutsidePki, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DOCFLOW), *args], capture_output=True, text=True,
                              env=env, timeout=120)

    assert run("pki", "ca", "create", "--name", "CA", "--out", str(tmp_path / "ca")
               ).returncode == 0
    assert run("init", str(tmp_path / "home"), "--organ", "000.00.01.H41", "--name",
               "UBND thành phố Tam Kỳ", "--ca", str(tmp_path / "ca")).returncode == 0
    checkpoint = tmp_path / "cp.json"
    made = run("audit", "checkpoint", "--home", str(tmp_path / "home"), "-o", str(checkpoint),
               "--tsa", outside.tsa_url)
    assert made.returncode == 0 and "(time-stamped)" in made.stdout, made.stderr
    roots = tmp_path / "tsa-root.pem"
    roots.write_bytes(outside.certificate("root").public_bytes(Encoding.PEM))
    checked = run("audit", "verify", "--home", str(tmp_path / "home"), "--checkpoint",
                  str(checkpoint), "--tsa-trust", str(roots), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (stamp,) = json.loads(checked.stdout)["time_stamps"]
    assert stamp["entry"] == 0 and stamp["stamped_at"]  # a new home: the empty chain
    bare = tmp_path / "bare.json"
    assert run("audit", "checkpoint", "--home", str(tmp_path / "home"), "-o", str(bare)
               ).returncode == 0
    refused = run("audit", "verify", "--home", str(tmp_path / "home"), "--checkpoint",
                  str(bare), "--tsa-trust", str(roots))
    assert refused.returncode == 1 and "carries no time-stamp" in refused.stderr
    away = run("audit", "checkpoint", "--home", str(tmp_path / "home"), "-o",
               str(tmp_path / "x.json"), "--tsa", "http://127.0.0.1:1/tsa")
    assert away.returncode == 7 and "no time-stamp" in away.stderr
    assert not (tmp_path / "x.json").exists()
