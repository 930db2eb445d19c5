"""The composition root: the parts a node, a hub or an emulator is made of, built from
a loaded configuration (:mod:`docflow.config` only reads and checks the files).

``node_parts(config)`` opens the store, loads the key and the trust store, reads the
directory and makes the transport (the SOAP client to the peers and the directory's
endpoints, or the ``[axis]`` dialect's client); :meth:`docflow.Node.from_config` and
:meth:`docflow.Hub.from_config` build the service from them. ``check_config`` opens each
part to say what is wrong with a home. ``read_systems`` and ``axis_app`` do the same for
an emulator's systems file. This module imports the adapters and the emulators, never
the services: a service imports it, so no import cycle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docflow.calendar import WorkingCalendar
from docflow.config import CONFIG_NAME, AxisConfig, NodeConfig, ServerConfig, load_config
from docflow.domain import OnInvalid
from docflow.emulators import AxisApp, AxisSystem, LgspAccount, TokenLgspApp, Wso2App, Wso2Consumer
from docflow.envelope import Policy
from docflow.errors import ConfigError, CredentialsError, DocflowError, ModelError
from docflow.model import OrganCode, OrganInfo
from docflow.pdf import PdfPolicy, PdfTrust
from docflow.routing import Directory
from docflow.security import Credentials, TrustPolicy, TrustStore, key_is_encrypted
from docflow.store import RetryPolicy, Store
from docflow.transport import (
    Check,
    SoapClient,
    TokenLgspClient,
    Transport,
    VxpClient,
    Wso2Client,
    Wso2Profile,
)

__all__ = [
    "AxisClient",
    "EmulatorApp",
    "NodeParts",
    "SystemsConfig",
    "axis_app",
    "axis_client",
    "check_config",
    "credentials",
    "hub_parts",
    "load_directory",
    "node_parts",
    "read_systems",
    "retry_policy",
    "trust_store",
]

#: a platform dialect's client: the node's transport and receive channel
AxisClient = VxpClient | TokenLgspClient | Wso2Client
#: a platform dialect's emulator (a WSGI application)
EmulatorApp = AxisApp | TokenLgspApp | Wso2App


@dataclasses.dataclass(frozen=True)
class NodeParts:
    """What a node or a hub is built from (``Node(**parts.arguments())``)."""

    organ: OrganInfo
    credentials: Credentials
    trust: TrustStore
    store: Store
    transport: Transport
    directory: Directory | None
    zone: dt.tzinfo
    axis_trust: TrustPolicy
    interop: Policy
    pdf: PdfPolicy
    calendar: WorkingCalendar


def working_calendar(config: NodeConfig) -> WorkingCalendar:
    """The node's working days: Vietnam's, with ``[calendar] overrides`` on top."""
    return WorkingCalendar.load(config.calendar) if config.calendar is not None \
        else WorkingCalendar()


def pdf_policy(config: NodeConfig) -> PdfPolicy:
    """The ``[pdf]`` policy: the PDF trust list and CRLs loaded (a missing or unreadable
    file is a ``CredentialsError`` naming it), what an invalid PDF does."""
    pdf = config.pdf
    trust = None if pdf.trust is None else PdfTrust.load(
        pdf.trust, crls=pdf.crls, revocation=pdf.revocation, fetch=pdf.fetch)
    return PdfPolicy(trust, OnInvalid(pdf.on_invalid))


def axis_client(axis: AxisConfig, organ: OrganCode | None = None) -> AxisClient:
    """The ``[axis]`` dialect's client (also the node's transport and receive channel);
    ``organ`` is the node's organ code, written as the sender where the dialect asks for
    one. Its secrets come from the environment variables the ``*_env`` settings name."""
    if axis.dialect == "vdxp":
        return VxpClient(axis.url, axis.settings["system_id"], axis.secret("secret_env"),
                         organ=organ, ca_bundle=axis.ca_bundle, verify=axis.verify)
    if axis.dialect == "lgsp-token":
        return TokenLgspClient(
            axis.url, axis.settings["system_id"], axis.secret("secret_env"),
            username=axis.settings["username"], password=axis.secret("password_env"),
            application_code=axis.settings["application_code"], ca_bundle=axis.ca_bundle,
            verify=axis.verify)
    profile = Wso2Profile({**Wso2Profile().locations, **axis.locations})
    return Wso2Client(axis.url, axis.settings["consumer_key"],
                      axis.secret("consumer_secret_env"), axis.secret("unit_secret_env"),
                      profile=profile, ca_bundle=axis.ca_bundle, verify=axis.verify)


def credentials(config: NodeConfig, *, signing: bool = True) -> Credentials:
    """The organ's key and certificate (the key's passphrase, if any, from the
    environment variable ``passphrase_env``). ``signing=False``: an encrypted key without
    its passphrase stays locked (what only reads, such as ``inbox`` and ``show``, needs
    no passphrase)."""
    key, variable = config.key, config.passphrase_env
    passphrase = os.environ.get(variable) or None
    try:
        encrypted = key_is_encrypted(key.read_bytes())
    except OSError:
        encrypted = False  # Credentials.load says what cannot be read
    if not encrypted:
        # A passphrase exported for another home's encrypted key is not this home's
        # business: an unencrypted key opens without it.
        passphrase = None
    hint = f"export {variable}=... (the key's passphrase)"
    if encrypted and passphrase is None and signing:
        raise CredentialsError(f"the key {key} is encrypted and ${variable} is not set",
                               where=str(key), hint=hint)
    locked = f"the key {key} is encrypted and ${variable} is not set: {hint} to sign"
    try:
        return Credentials.load(key, config.certificate, passphrase=passphrase,
                                need_key=signing, locked=locked)
    except CredentialsError as exc:
        if not (encrypted and passphrase):
            raise
        raise CredentialsError(f"the key {key} is encrypted and ${variable} does not "
                               "open it", where=str(key), hint=hint) from exc


def trust_store(config: NodeConfig) -> TrustStore:
    """The home's trusted CA certificates and CRLs."""
    return TrustStore.from_paths(config.trust, config.crls)


def load_directory(config: NodeConfig) -> Directory | None:
    """The organ directory, if the configuration names one."""
    return None if config.directory is None else Directory.from_toml(config.directory)


def retry_policy(server: ServerConfig) -> RetryPolicy:
    """The outbox's retry schedule as ``[server]`` sets it."""
    if server.retry_intervals:
        return RetryPolicy(intervals=server.retry_intervals, max_attempts=server.max_attempts)
    return RetryPolicy(max_attempts=server.max_attempts)


def _parts(config: NodeConfig, signing: bool, axis: bool) -> NodeParts:
    keys, trust = credentials(config, signing=signing), trust_store(config)
    directory = load_directory(config)
    pdf, calendar = pdf_policy(config), working_calendar(config)
    addresses = dict(directory.addresses()) if directory is not None else {}
    addresses.update(config.peers)
    # the home's database exists (docflow init made it): a typo or a volume not mounted
    # is refused, never a new empty database
    store = Store.open(config.database, create=False, retry=retry_policy(config.server),
                       retention=dt.timedelta(days=config.keep_message_ids))
    transport: Transport = SoapClient(addresses)
    # Sends and polls through the axis or LGSP; what only reads (signing=False: inbox,
    # show...) needs no client, and so none of the platform's secrets.
    if axis and config.axis is not None and signing:
        try:
            transport = axis_client(config.axis, config.organ.code)
        except DocflowError:
            store.close()
            raise
    return NodeParts(config.organ, keys, trust, store, transport, directory, config.zone,
                     TrustPolicy(config.interop.axis_trust), config.interop.policy(), pdf,
                     calendar)


def node_parts(config: NodeConfig, *, signing: bool = True) -> NodeParts:
    """The parts of the organ's node this configuration describes (store opened,
    credentials loaded, SOAP client to the peers and the directory's endpoints, or the
    ``[axis]`` client, routes from the directory). ``signing=False`` opens it for reading
    only: an encrypted key needs no passphrase then (signing would say so). A hub's home
    is refused, saying what works on it."""
    if config.role != "node":
        raise ConfigError(
            f"this home is the {config.role} {config.organ.code} ({config.organ.name}), "
            "not an organ's node: documents are sent, accepted and recalled at the organs' "
            "own nodes", hint="a hub home serves with `docflow serve`; inbox, outbox, "
            "show, trace, deadletters, resend and retry-now work on it "
            "(Hub.from_config(config) in the library)")
    return _parts(config, signing, axis=True)


def hub_parts(config: NodeConfig, *, signing: bool = True) -> NodeParts:
    """The parts of the hub of a home with ``role = "hub"`` (which needs a directory)."""
    if config.role != "hub" or config.directory is None:
        raise ConfigError("a hub home needs role = \"hub\" and a directory",
                          where=str(config.organ.code))
    return _parts(config, signing, axis=False)


def check_config(home: Path) -> list[Check]:
    """Check a home setting by setting, each file and key named: the file parses, the
    key opens (with its passphrase) and matches the certificate and the organ, the trust
    folder holds CAs, the directory parses and lists the organ, the database exists at
    the current schema, the [axis] variables are set; one :class:`Check` line each.
    Nothing is created or changed."""
    path = home if home.suffix == ".toml" else home / CONFIG_NAME
    try:
        config = load_config(home)
    except DocflowError as exc:
        return [Check(str(path), False, exc.message + (f" ({exc.hint})" if exc.hint else ""))]
    checks = [Check(str(path), True, f"organ {config.organ.code} ({config.organ.name}), "
                    f"role {config.role}, zone {config.timezone}")]

    def attempt(name: str, probe: Any) -> None:
        try:
            checks.append(Check(name, True, probe()))
        except DocflowError as exc:
            checks.append(Check(name, False, exc.message + (f"; {exc.hint}" if exc.hint else "")))

    def key() -> str:
        opened = credentials(config)
        if opened.organ != config.organ.code:
            raise ConfigError(f"the certificate is {opened.organ}'s, not "
                              f"{config.organ.code}'s")
        return f"{config.key.name} opens and matches {config.certificate.name}"

    def trust() -> str:
        store = trust_store(config)
        # the home's own certificate as its receivers will judge it (a CA bound to other
        # organs, an expired certificate: every packet it signs would be refused)
        organ = store.check(credentials(config, signing=False).certificate)
        return f"{len(store.cas)} trusted CA(s) in {config.trust}; they accept {organ}'s " \
            "certificate"

    def directory(file: Path) -> str:
        found = Directory.from_toml(file)
        if config.organ.code not in found:
            raise ConfigError(f"{file.name} does not list {config.organ.code}")
        return f"{len(found)} organs in {file}"

    def database() -> str:
        Store(config.database).close()  # refuses a missing file and an old schema
        return "opens, schema current"

    def axis(table: AxisConfig) -> str:
        axis_client(table, config.organ.code).close()
        return f"{table.dialect} at {table.url}, credentials in the environment"

    def pdf() -> str:
        policy = pdf_policy(config)
        if policy.trust is None:
            return "no trust list: received PDFs are marked unchecked"
        return (f"{len(policy.trust.roots)} root(s), {len(policy.trust.intermediates)} "
                f"intermediate(s), {len(policy.trust.crls)} CRL(s); revocation "
                f"{policy.trust.revocation}; an invalid PDF: {policy.on_invalid}")

    attempt("[node] key, certificate", key)
    attempt("[node] trust", trust)
    attempt("[pdf]", pdf)
    if config.directory is not None:
        attempt("[node] directory", functools.partial(directory, config.directory))
    attempt("[node] database", database)
    for code, url in config.peers.items():
        checks.append(Check(f"[peers] {code}", url.startswith(("http://", "https://")),
                            url if url.startswith(("http://", "https://"))
                            else f"{url!r} is not an http(s) address"))
    if config.axis is not None:
        attempt("[axis]", functools.partial(axis, config.axis))
    server = config.server
    checks.append(Check("[server]", True, f"{server.host}:{server.port}, outbox every "
                        f"{server.deliver_every:g} s, {server.max_attempts} attempts"))
    return checks


# --------------------------------------------------------------------------- emulators

@dataclasses.dataclass(frozen=True)
class SystemsConfig:
    """An emulator's ``--systems`` file: the systems it serves, the accounts they log in
    with (lgsp-token), the OAuth2 consumers and where parameters travel (wso2)."""

    systems: tuple[AxisSystem, ...]
    accounts: tuple[LgspAccount, ...] = ()
    consumers: tuple[Wso2Consumer, ...] = ()
    locations: dict[str, str] = dataclasses.field(default_factory=dict)


#: the tables of a systems file, and the dialects that read each
_TABLES = {"systems": "every dialect", "accounts": "lgsp-token", "consumers": "wso2",
           "locations": "wso2"}
_SYSTEM_KEYS = {"system_id", "secret", "name", "relay", "organs", "serves", "register",
                "max_agencies"}


def read_systems(path: Path, dialect: str) -> SystemsConfig:
    """The ``--systems`` file, every table and key checked (a typo such as
    ``[[system]]`` is named, not read as no systems); a ConfigError naming the table and
    key."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the systems file: {exc}", where=where) from exc
    unknown = sorted(set(data) - set(_TABLES))
    if unknown:
        raise ConfigError(f"unknown table(s) in the systems file: {', '.join(unknown)}",
                          where=where, hint="the tables are [[systems]], [[accounts]] "
                          "(lgsp-token), [[consumers]] and [locations] (wso2)")
    for name in ("systems", "accounts", "consumers"):
        if not isinstance(data.get(name, []), list):
            raise ConfigError(f"{name} must be written [[{name}]] (an array of tables)",
                              where=where)
    if not data.get("systems"):
        raise ConfigError("the systems file has no [[systems]]: the emulator would serve "
                          "nobody", where=where,
                          hint='[[systems]]\nsystem_id = "000.00.00.H41"\nsecret = "..."')
    if dialect == "lgsp-token" and not data.get("accounts"):
        raise ConfigError("the lgsp-token dialect needs [[accounts]] to log in with",
                          where=where, hint="username, password, application_code, system_id")
    if dialect == "wso2" and not data.get("consumers"):
        raise ConfigError("the wso2 dialect needs [[consumers]] (OAuth2 clients)",
                          where=where, hint="key, secret")
    try:
        return SystemsConfig(
            tuple(_system(_table(t, "systems", i, ("system_id", "secret"), where))
                  for i, t in enumerate(data.get("systems", []), 1)),
            tuple(LgspAccount(str(t["username"]), str(t["password"]),
                              str(t["application_code"]), str(t.get("system_id", "")))
                  for i, t in enumerate(data.get("accounts", []), 1)
                  if _table(t, "accounts", i, ("username", "password", "application_code"),
                            where)),
            tuple(Wso2Consumer(str(t["key"]), str(t["secret"]))
                  for i, t in enumerate(data.get("consumers", []), 1)
                  if _table(t, "consumers", i, ("key", "secret"), where)),
            {str(k): str(v) for k, v in data.get("locations", {}).items()})
    except ConfigError as exc:
        raise ConfigError(exc.message, where=exc.where or where, hint=exc.hint) from exc
    except DocflowError as exc:
        raise ConfigError(exc.message, where=where, hint=exc.hint) from exc


def _table(table: Any, name: str, index: int, required: Sequence[str],
           where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"[[{name}]] #{index} is not a table", where=where)
    missing = [key for key in required if key not in table]
    if missing:
        raise ConfigError(f"[[{name}]] #{index}: missing {', '.join(missing)}",
                          where=where, hint="each needs " + ", ".join(required))
    return table


def _system(table: dict[str, Any]) -> AxisSystem:
    """One ``[[systems]]`` table: its id and secret, and what the operator grants it."""
    name = table.get("system_id", "?")
    unknown = sorted(set(table) - _SYSTEM_KEYS)
    if unknown:
        raise ConfigError(f"[[systems]] {name!r}: unknown key(s) {', '.join(unknown)}",
                          hint="known: " + ", ".join(sorted(_SYSTEM_KEYS)))
    for key in ("relay", "register"):
        if not isinstance(table.get(key, False), bool):
            raise ConfigError(f"[[systems]] {name!r}: {key} must be true or false")
    limit = table.get("max_agencies", 500)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ConfigError(f"[[systems]] {name!r}: max_agencies must be a whole number")
    organs = []
    for code in table.get("organs", ()):
        try:
            organs.append(str(OrganCode.parse(str(code))))
        except ModelError as exc:
            raise ConfigError(f"[[systems]] {name!r}: organs: {exc.message}",
                              hint=exc.hint) from exc
    return AxisSystem(str(table["system_id"]), str(table["secret"]), str(table.get("name", "")),
                      table.get("relay", False), tuple(organs),
                      serves=tuple(str(p) for p in table.get("serves", ())),
                      register=table.get("register", False), max_agencies=limit)


def axis_app(dialect: str, code: str, store: Store, systems: SystemsConfig, *,
             parent: VxpClient | None = None, token_key: bytes | None = None,
             province: str = "H41") -> EmulatorApp:
    """The ``dialect``'s emulator over ``store`` (registering ``systems`` there), and
    its ``parent`` axis if any (whatever the dialect, the parent is a national axis);
    ``token_key`` signs the tokens it issues (one key shared by every process)."""
    if dialect == "lgsp-token":
        return TokenLgspApp(code, store, list(systems.systems), list(systems.accounts),
                            parent=parent, token_key=token_key)
    if dialect == "wso2":
        return Wso2App(code, store, list(systems.systems), list(systems.consumers),
                       parent=parent, province=province,
                       profile=Wso2Profile({**Wso2Profile().locations, **systems.locations}),
                       token_key=token_key)
    if dialect != "vdxp":
        raise ConfigError(f"unknown dialect {dialect!r}", hint="vdxp, lgsp-token or wso2")
    return AxisApp(code, store, list(systems.systems), parent=parent)
