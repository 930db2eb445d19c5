"""``docflow pki ca|issue|show``: a test PKI for organs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli
from docflow.cli._output import ExistingPath, emit, fail, json_option, say
from docflow.errors import ConfigError, DocflowError


@cli.group()
def pki() -> None:
    """Test PKI: a province CA and organ certificates (real deployments use the CA of the
    government's signing service)."""


@pki.command("ca")
@click.argument("action", type=click.Choice(["create"]))
@click.option("--name", required=True, help="The CA's name, e.g. 'Quảng Nam province CA'.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for ca.key and ca.crt.")
@click.option("--ecdsa", is_flag=True, help="ECDSA P-256 instead of RSA-2048.")
@click.option("--organs", "organs", multiple=True, metavar="PATTERN",
              help="Bind the CA to these organs with X.509 name constraints, e.g. "
                   "'*.*.*.H41' (repeatable; default: unconstrained).")
@click.option("--force", is_flag=True, help="Replace existing keys (they are lost for good).")
def pki_ca(action: str, name: str, out: Path, ecdsa: bool, organs: tuple[str, ...],
           force: bool) -> None:
    """Create a CA: OUT/ca.key and OUT/ca.crt (refused over existing ones unless --force)."""
    from docflow.clock import system_clock
    from docflow.model import OrganPattern
    from docflow.security import KeyType, create_ca

    for pattern in organs:  # a pattern that cannot be a constraint is a usage error
        try:
            parsed = OrganPattern(pattern)
        except DocflowError as exc:
            raise click.BadParameter(str(exc), param_hint="--organs") from exc
        if parsed.suffix is None:
            raise click.BadParameter(
                f"the pattern {pattern} cannot be written as a name constraint: constraints "
                "fix the right-hand parts of a code (*.*.05.H41)", param_hint="--organs")
    try:
        refuse_overwrite(out / "ca.key", out / "ca.crt", force=force)
        ca = create_ca(name, now=system_clock(),
                       key_type=KeyType.ECDSA_P256 if ecdsa else KeyType.RSA2048,
                       organs=organs or None)
    except DocflowError as exc:
        fail(exc)
    out.mkdir(parents=True, exist_ok=True)
    ca.save(out / "ca.key", out / "ca.crt")
    scope = f" for {', '.join(organs)}" if organs else ""
    say(f"created CA {name!r}{scope}: {out / 'ca.crt'}")


@pki.command("issue")
@click.option("--ca", "ca_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The CA folder (ca.key, ca.crt).")
@click.option("--organ", required=True, help="The organ code, e.g. 000.00.01.H41.")
@click.option("--name", help="The organ's name (an organ's certificate).")
@click.option("--person", help="An official's name: a person's certificate for signing PDFs "
                               "as the official of --organ (instead of --name).")
@click.option("--title", help="With --person: the official's title, e.g. 'Chủ tịch'.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for organ.key and organ.crt (official.key and official.crt "
                   "with --person).")
@click.option("--ecdsa", is_flag=True, help="ECDSA P-256 instead of RSA-2048.")
@click.option("--force", is_flag=True, help="Replace existing keys (they are lost for good).")
@click.option("--encrypt", is_flag=True,
              help="Encrypt the key with a passphrase: $DOCFLOW_KEY_PASSPHRASE, else asked "
                   "for (twice). Nodes read it from DOCFLOW_KEY_PASSPHRASE.")
def pki_issue(ca_dir: Path, organ: str, name: str | None, person: str | None,
              title: str | None, out: Path, ecdsa: bool, force: bool, encrypt: bool) -> None:
    """Issue an organ certificate (its organ code in a subjectAltName URI), or with
    --person an official's (bound to the organ, with the key usage PAdES signers need:
    digital signature and non-repudiation); refused over existing keys unless --force;
    --encrypt protects the key."""
    if (name is None) == (person is None):
        raise click.BadParameter("give either --name (an organ) or --person (an official)",
                                 param_hint="--name/--person")
    if title is not None and person is None:
        raise click.BadParameter("--title goes with --person", param_hint="--title")
    passphrase = new_passphrase() if encrypt else None
    if person is not None:
        issue_official(ca_dir, organ, person, title, out, ecdsa, force=force,
                       passphrase=passphrase)
    else:
        issue_keys(ca_dir, organ, str(name), out, ecdsa, force=force, passphrase=passphrase)


def issue_official(ca_dir: Path, organ: str, person: str, title: str | None, out: Path,
                   ecdsa: bool, *, force: bool, passphrase: str | None) -> None:
    """Issue an official's key and certificate into ``out`` (official.key/.crt)."""
    from docflow.clock import system_clock
    from docflow.security import Credentials, KeyType, issue_official_certificate

    try:
        refuse_overwrite(out / "official.key", out / "official.crt", force=force)
        ca = Credentials.load(ca_dir / "ca.key", ca_dir / "ca.crt")
        credentials = issue_official_certificate(
            ca, organ, person, now=system_clock(), title=title,
            key_type=KeyType.ECDSA_P256 if ecdsa else KeyType.RSA2048)
    except DocflowError as exc:
        fail(exc)
    out.mkdir(parents=True, exist_ok=True)
    credentials.save(out / "official.key", out / "official.crt", passphrase=passphrase)
    say(f"issued an official's certificate for {person} of {organ}: {out / 'official.crt'}"
        + (" (key encrypted)" if passphrase else ""))


def new_passphrase() -> str:
    """The passphrase a new key is encrypted with: ``$DOCFLOW_KEY_PASSPHRASE``, else
    asked for twice (at least 8 characters)."""
    import os

    passphrase = os.environ.get("DOCFLOW_KEY_PASSPHRASE") or str(click.prompt(
        "Passphrase for the key", hide_input=True, confirmation_prompt=True, err=True))
    if len(passphrase) < 8:
        raise click.BadParameter("the passphrase must be at least 8 characters",
                                 param_hint="--encrypt")
    return passphrase


def refuse_overwrite(*paths: Path, force: bool) -> None:
    """Refuse (``ConfigError``) to replace existing key files unless ``force``: a key
    overwritten is lost, and every certificate it signed with it."""
    existing = [path for path in paths if path.exists()]
    if existing and not force:
        raise ConfigError(f"{', '.join(str(p) for p in existing)} exist(s) already",
                          where=str(existing[0].parent),
                          hint="nothing was written; pass --force to replace them, or "
                               "choose another --out")


def issue_keys(ca_dir: Path, organ: str, name: str, out: Path, ecdsa: bool, *,
               force: bool = False, passphrase: str | None = None,
               quiet: bool = False) -> None:
    """Issue ``organ``'s key and certificate from the CA in ``ca_dir`` into ``out``
    (the key encrypted with ``passphrase`` when given)."""
    from docflow.clock import system_clock
    from docflow.security import Credentials, KeyType, issue_certificate

    try:
        refuse_overwrite(out / "organ.key", out / "organ.crt", force=force)
        ca = Credentials.load(ca_dir / "ca.key", ca_dir / "ca.crt")
        credentials = issue_certificate(ca, organ, name, now=system_clock(),
                                        key_type=KeyType.ECDSA_P256 if ecdsa else KeyType.RSA2048)
    except DocflowError as exc:
        fail(exc)
    out.mkdir(parents=True, exist_ok=True)
    credentials.save(out / "organ.key", out / "organ.crt", passphrase=passphrase)
    if not quiet:
        say(f"issued a certificate for {organ}: {out / 'organ.crt'}"
            + (" (key encrypted)" if passphrase else ""))


@pki.command("crl")
@click.option("--ca", "ca_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The CA folder (ca.key, ca.crt).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Where the CRL goes (PEM).")
@click.option("--revoke", "revoked", multiple=True, type=ExistingPath(dir_okay=False),
              help="A certificate to list as revoked (repeatable).")
@click.option("--days", default=7, show_default=True, help="Until its next update.")
def pki_crl(ca_dir: Path, output: Path, revoked: tuple[Path, ...], days: int) -> None:
    """Publish the CA's certificate revocation list: what PDF receivers need (revocation
    is required by default) to trust the signatures of the certificates it issued."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from docflow.clock import system_clock
    from docflow.security import Credentials, create_crl, load_certificates

    try:
        ca = Credentials.load(ca_dir / "ca.key", ca_dir / "ca.crt")
        listed = [cert for path in revoked for cert in load_certificates(path)]
        crl = create_crl(ca, listed, now=system_clock(), days=days)
    except DocflowError as exc:
        fail(exc)
    output.write_bytes(crl.public_bytes(Encoding.PEM))
    say(f"published a CRL of {len(listed)} revoked certificate(s), valid {days} day(s): "
        f"{output}")


@pki.command("show")
@click.argument("certificate", type=ExistingPath(dir_okay=False))
@json_option
def pki_show(certificate: Path, as_json: bool) -> None:
    """Print who a certificate names, who issued it, and when it is valid."""
    from docflow.security import (
        load_certificates,
        official_of,
        organ_of,
        organ_subtrees,
        subtree_pattern,
    )

    try:
        certs = load_certificates(certificate)
    except DocflowError as exc:
        fail(exc)
    shown: list[dict[str, Any]] = []
    for cert in certs:
        subtrees = organ_subtrees(cert)
        shown.append({
            "subject": cert.subject.rfc4514_string(),
            "organ": str(organ_of(cert) or official_of(cert) or ""),
            "role": "official" if official_of(cert) else "organ" if organ_of(cert) else None,
            "issuer": cert.issuer.rfc4514_string(),
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
            "serial": f"{cert.serial_number:x}",
            # the organ patterns the name constraints stand for (*.*.*.H41)
            "organs": [subtree_pattern(d) for d in subtrees[0]] if subtrees else None,
            "excluded": [subtree_pattern(d) for d in subtrees[1]] if subtrees else None})

    def text() -> None:
        for item in shown:
            say(f"subject:  {item['subject']}")
            say(f"organ:    {item['organ'] or '-'}")
            say(f"issuer:   {item['issuer']}")
            say(f"valid:    {item['not_before'][:10]} .. {item['not_after'][:10]}")
            say(f"serial:   {item['serial']}")
            if item["organs"] is not None:
                say(f"organs:   {', '.join(item['organs']) or '-'}"
                           + (f" (excluding {', '.join(item['excluded'])})"
                              if item["excluded"] else ""))

    emit(shown if len(shown) > 1 else shown[0], as_json, text)
