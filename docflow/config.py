"""The one configuration loader: a node's home folder and its ``node.toml``.

```toml
[node]
organ = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
database = "sqlite:///node.db"          # relative paths are relative to this file
key = "keys/organ.key"
certificate = "keys/organ.crt"
trust = "trust"                          # a folder of trusted CA certificates (PEM)
crls = "crls"                            # optional: a folder of CRLs
directory = "quangnam.toml"              # optional: the organ directory (routes, hubs)
role = "node"                            # or "hub": this home runs a province hub (LGSP)
timezone = "Asia/Ho_Chi_Minh"            # the office's zone: issue dates, OVERDUE, times shown

[server]
host = "127.0.0.1"
port = 8080
threads = 4
deliver_every = 2.0                      # seconds between outbox passes
deliver_workers = 4                      # deliveries sent at a time in a pass
lease = 300.0                            # seconds a worker owns a claimed delivery
retry_intervals = [30, 60, 300, 900]     # optional: the retry schedule (default: backoff)
max_attempts = 8                         # then the delivery is dead-lettered
checkpoint_every = 3600.0                # sign the audit chain's head this often (0: never)
checkpoint_dir = "checkpoints"           # where those signed checkpoints are written

[peers]                                  # where other organs' SOAP endpoints are
"000.00.01.H41" = "http://127.0.0.1:8081/"

[axis]                                   # optional: send and receive through an axis/LGSP
dialect = "vdxp"                         # "vdxp" | "lgsp-token" | "wso2"
url = "https://axis.example/"
system_id = "000.00.00.H41"              # vdxp, lgsp-token: the system id it issued
secret_env = "DOCFLOW_AXIS_SECRET"       # the name of the variable holding the secret
# lgsp-token: username, password_env, application_code
# wso2: consumer_key, consumer_secret_env, unit_secret_env

[interop]                                # packets other systems write (an axis, an LGSP)
axis_trust = "require"                   # or "channel": the authenticated axis channel is
                                         # enough for packets without a verifiable signature
accept = ["M.MessageHeader.DocumentId"]  # finding codes recorded, never refusing
refuse = ["R.*"]                         # finding codes that refuse a packet
aliases = { "vxp.saas.03" = "000.00.07.H41" }   # system ids read as organ codes
timezone = "Asia/Ho_Chi_Minh"            # of the peers' zone-less timestamps
```

It reads and checks, and builds nothing: the parts a home describes (store, keys,
transport) are made by :mod:`docflow.bootstrap`. Adapter-level module: it reads files;
the core never imports it.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from docflow.envelope import DEFAULT_POLICY, Policy
from docflow.errors import ConfigError, DocflowError
from docflow.model import OrganCode, OrganInfo
from docflow.routing import toml_string

__all__ = ["CONFIG_NAME", "DIALECTS", "AxisConfig", "InteropConfig", "NodeConfig",
           "ServerConfig", "load_config", "write_config"]

CONFIG_NAME = "node.toml"


@dataclass(frozen=True)
class ServerConfig:
    """Where and how ``docflow serve`` listens."""

    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 4
    deliver_every: float = 2.0
    #: deliveries an outbox pass sends at a time (threads)
    deliver_workers: int = 4
    #: how long a worker owns a delivery it claimed (a killed worker's claims are taken
    #: over after this)
    lease: float = 300.0
    #: the outbox's retry schedule: seconds between attempts (the last one repeats) and
    #: how many attempts before a delivery is dead-lettered (defaults: RetryPolicy's)
    retry_intervals: tuple[float, ...] = ()
    max_attempts: int = 8
    #: seconds between the signed audit checkpoints `docflow serve` writes (0: none); one
    #: is written only when the chain has grown, and one more when the server stops
    checkpoint_every: float = 3600.0
    #: where they are written (relative to the home); copy them somewhere else
    checkpoint_dir: str = "checkpoints"
    #: an RFC 3161 time-stamping authority's URL that stamps each checkpoint ("": none)
    checkpoint_tsa: str = ""


@dataclass(frozen=True)
class InteropConfig:
    """``[interop]``: how a node takes packets other systems write."""

    #: "require" (a verified docflow signature) or "channel" (see TrustPolicy)
    axis_trust: str = "require"
    accept: tuple[str, ...] = ()
    refuse: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    timezone: str = "Asia/Ho_Chi_Minh"

    def policy(self) -> Policy:
        """The lenient reader's :class:`~docflow.envelope.Policy`."""
        return DEFAULT_POLICY.clone(accept=self.accept, refuse=self.refuse,
                                    aliases=dict(self.aliases), tz=ZoneInfo(self.timezone))


@dataclass(frozen=True)
class PdfConfig:
    """``[pdf]``: how the signed PDFs of received documents are checked."""

    #: the PDF trust list (CA certificates, PEM or DER: a file or a folder); None: PDFs
    #: are marked unchecked
    trust: Path | None = None
    #: CRLs (PEM or DER: a file or a folder)
    crls: Path | None = None
    #: "record" (keep the verdict) or "reject" (return an invalid one: status 02)
    on_invalid: str = "record"
    #: "require", "hard-fail" or "soft-fail" (see docflow.pdf.REVOCATION_MODES)
    revocation: str = "require"
    #: fetch the CRLs and OCSP answers the certificates name
    fetch: bool = False


DIALECTS = ("vdxp", "lgsp-token", "wso2")
#: the settings each dialect needs (the ``*_env`` ones name environment variables)
_AXIS_SETTINGS = {
    "vdxp": ("system_id", "secret_env"),
    "lgsp-token": ("system_id", "secret_env", "username", "password_env", "application_code"),
    "wso2": ("consumer_key", "consumer_secret_env", "unit_secret_env"),
}


@dataclass(frozen=True)
class AxisConfig:
    """``[axis]``: the national axis or provincial LGSP a node sends and polls through.
    Secrets come from the environment variables the ``*_env`` settings name."""

    dialect: str
    url: str
    settings: dict[str, str] = field(default_factory=dict)
    #: wso2: where parameters travel, over the default profile (``{"secret": "query"}``)
    locations: dict[str, str] = field(default_factory=dict)
    #: the CAs that sign the platform's HTTPS certificate (default: the system's)
    ca_bundle: Path | None = None
    #: false: no certificate checks (logged as a warning each time a client is made)
    verify: bool = True

    def secret(self, name: str) -> str:
        """The secret the ``*_env`` setting ``name`` names, from the environment; a
        ConfigError naming the variable when it is not set."""
        variable = self.settings[name]
        value = os.environ.get(variable)
        if not value:
            raise ConfigError(f"[axis] {name}: the environment variable {variable} is not set",
                              hint=f"export {variable}=... before starting docflow")
        return value


@dataclass(frozen=True)
class NodeConfig:
    """A node's configuration, with every path made absolute."""

    organ: OrganInfo
    database: str
    key: Path
    certificate: Path
    trust: Path
    crls: Path | None = None
    server: ServerConfig = field(default_factory=ServerConfig)
    peers: dict[OrganCode, str] = field(default_factory=dict)
    directory: Path | None = None
    role: str = "node"
    interop: InteropConfig = field(default_factory=InteropConfig)
    axis: AxisConfig | None = None
    pdf: PdfConfig = field(default_factory=PdfConfig)
    #: ``[calendar] overrides``: a TOML file of days made off or working by decisions
    #: newer than the holidays package (docflow.calendar.WorkingCalendar.load)
    calendar: Path | None = None
    # The name of the environment variable holding the key's passphrase, not a secret.
    passphrase_env: str = "DOCFLOW_KEY_PASSPHRASE"  # noqa: S105
    #: the office's IANA time zone: the day a document is dated, due and overdue, and
    #: the zone times are printed in
    timezone: str = "Asia/Ho_Chi_Minh"
    #: days a received message id is remembered (a copy arriving again within them gets
    #: the first receipt; the worker forgets older ones)
    keep_message_ids: int = 365

    @property
    def zone(self) -> dt.tzinfo:
        """:attr:`timezone` as a tzinfo."""
        return ZoneInfo(self.timezone)


def _path(base: Path, value: Any, name: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"[node] {name} must be a path", where=str(base / CONFIG_NAME))
    path = Path(value)
    return path if path.is_absolute() else base / path


def _database(base: Path, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError("[node] database must be a URL", where=str(base / CONFIG_NAME))
    prefix = "sqlite:///"
    if value.startswith(prefix) and not value[len(prefix):].startswith("/"):
        return prefix + str(base / value[len(prefix):])
    return value


def load_config(home: Path) -> NodeConfig:
    """Read ``home/node.toml`` (or a ``.toml`` file given directly)."""
    path = home if home.suffix == ".toml" else home / CONFIG_NAME
    base = path.parent.resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the node configuration: {exc}", where=str(path),
                          hint="create a node home with `docflow init`") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", where=str(path)) from exc
    node = data.get("node")
    if not isinstance(node, dict):
        raise ConfigError("missing [node] table", where=str(path))
    try:
        organ = OrganInfo(OrganCode.parse(str(node["organ"])), str(node["name"]))
        server = _server(data.get("server", {}))
        if server.deliver_workers < 1 or server.threads < 1:
            raise ConfigError("[server] threads and deliver_workers must be at least 1")
        if server.checkpoint_every < 0:
            raise ConfigError("[server] checkpoint_every must not be negative",
                              hint="0 turns signed audit checkpoints off")
        peers = {OrganCode.parse(code): str(url) for code, url in data.get("peers", {}).items()}
        interop = _interop(data.get("interop", {}))
        axis = _axis(data["axis"], path.parent) if "axis" in data else None
        pdf = _pdf(data.get("pdf", {}), base)
        calendar = _calendar(data.get("calendar", {}), base)
    except KeyError as exc:
        raise ConfigError(f"[node] {exc.args[0]} is missing", where=str(path),
                          hint="[node] needs organ (its code) and name") from exc
    except DocflowError as exc:
        raise ConfigError(exc.message, where=str(path), hint=exc.hint) from exc
    unknown = sorted(set(node) - _NODE_KEYS)
    if unknown:
        raise ConfigError(f"unknown setting(s) in [node]: {', '.join(unknown)}",
                          where=str(path), hint="the settings: " + ", ".join(sorted(_NODE_KEYS)))
    crls = node.get("crls")
    directory = node.get("directory")
    role = node.get("role", "node")
    if role not in ("node", "hub"):
        raise ConfigError(f"unknown role {role!r}", where=str(path), hint="node or hub")
    timezone = _zone(node.get("timezone", "Asia/Ho_Chi_Minh"), f"{path}: [node] timezone")
    keep = node.get("keep_message_ids", 365)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= 36500:
        raise ConfigError(f"[node] keep_message_ids must be a number of days (1 to 36500), "
                          f"not {keep!r}", where=str(path))
    return NodeConfig(
        organ=organ,
        database=_database(base, node.get("database", "sqlite:///node.db")),
        key=_path(base, node.get("key", "keys/organ.key"), "key"),
        certificate=_path(base, node.get("certificate", "keys/organ.crt"), "certificate"),
        trust=_path(base, node.get("trust", "trust"), "trust"),
        crls=_path(base, crls, "crls") if crls else None,
        server=server,
        peers=peers,
        directory=_path(base, directory, "directory") if directory else None,
        role=str(role),
        interop=interop,
        axis=axis,
        pdf=pdf,
        calendar=calendar,
        timezone=timezone,
        keep_message_ids=keep,
    )


_NODE_KEYS = {"organ", "name", "database", "key", "certificate", "trust", "crls", "directory",
              "role", "timezone", "keep_message_ids"}


def _server(table: Any) -> ServerConfig:
    """``[server]``, each setting checked for its kind (a port of "80a" is refused here,
    not when the server binds)."""
    if not isinstance(table, dict):
        raise ConfigError("[server] must be a table")
    defaults = ServerConfig()
    values: dict[str, Any] = {}
    for name, value in table.items():
        if name not in ServerConfig.__dataclass_fields__:
            raise ConfigError(f"unknown setting in [server]: {name}",
                              hint="the settings: " + ", ".join(ServerConfig.__dataclass_fields__))
        default = getattr(defaults, name)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(
                    isinstance(item, int | float) and not isinstance(item, bool)
                    and item > 0 for item in value):
                raise ConfigError(f"[server] {name} must be a list of positive seconds",
                                  hint=f"e.g. {name} = [30, 60, 300]")
            values[name] = tuple(float(item) for item in value)
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"[server] {name} must be a number of seconds, not {value!r}")
            values[name] = float(value)
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"[server] {name} must be a whole number, not {value!r}")
            values[name] = value
        elif not isinstance(value, str):
            raise ConfigError(f"[server] {name} must be text, not {value!r}")
        else:
            values[name] = value
    server = ServerConfig(**values)
    if not 0 < server.port < 65536:
        raise ConfigError(f"[server] port must be between 1 and 65535, not {server.port}")
    if server.max_attempts < 1 or server.lease <= 0 or server.deliver_every <= 0:
        raise ConfigError("[server] max_attempts, lease and deliver_every must be positive")
    return server


def _zone(value: Any, where: str) -> str:
    """An IANA zone name that this machine knows (tzdata is a dependency)."""
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {value!r}", where=where,
                          hint='an IANA name such as "Asia/Ho_Chi_Minh"') from exc
    return str(value)


def _axis(table: Any, home: Path) -> AxisConfig:
    if not isinstance(table, dict):
        raise ConfigError("[axis] must be a table")
    dialect = str(table.get("dialect", "vdxp"))
    if dialect not in DIALECTS:
        raise ConfigError(f"[axis] dialect must be one of {', '.join(DIALECTS)}, "
                          f"not {dialect!r}")
    url = table.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError("[axis] url must be an http(s) address")
    needed = _AXIS_SETTINGS[dialect]
    missing = [name for name in needed if not isinstance(table.get(name), str)]
    if missing:
        raise ConfigError(f"[axis] the {dialect} dialect needs {', '.join(missing)}")
    optional = {"ca_bundle", "verify", *({"locations"} if dialect == "wso2" else set())}
    unknown = set(table) - {"dialect", "url", *needed, *optional}
    if unknown:
        raise ConfigError(f"unknown setting(s) in [axis] for {dialect}: {sorted(unknown)}")
    locations = table.get("locations", {})
    if not isinstance(locations, dict) or any(
            not isinstance(name, str) or value not in ("header", "query", "form")
            for name, value in locations.items()):
        raise ConfigError("[axis] locations maps parameter names to header, query or form",
                          hint='e.g. locations = { secret = "query" }')
    verify = table.get("verify", True)
    if not isinstance(verify, bool):
        raise ConfigError("[axis] verify must be true or false")
    bundle = table.get("ca_bundle")
    if bundle is not None and not isinstance(bundle, str):
        raise ConfigError("[axis] ca_bundle must be a file name (a PEM bundle of CAs)")
    return AxisConfig(dialect, url, {name: str(table[name]) for name in needed},
                      dict(locations), ca_bundle=None if bundle is None else home / bundle,
                      verify=verify)


def _interop(table: Any) -> InteropConfig:
    if not isinstance(table, dict):
        raise ConfigError("[interop] must be a table")
    unknown = set(table) - {"axis_trust", "accept", "refuse", "aliases",  # not a state
                            "timezone"}
    if unknown:
        raise ConfigError(f"unknown setting(s) in [interop]: {sorted(unknown)}")
    trust = str(table.get("axis_trust", "require"))
    if trust not in ("require", "channel"):
        raise ConfigError(f"[interop] axis_trust must be require or channel, not {trust!r}")
    aliases = table.get("aliases", {})
    if not isinstance(aliases, dict):
        raise ConfigError("[interop] aliases must be a table of id = organ code")
    for code in aliases.values():
        OrganCode.parse(str(code))
    timezone = str(table.get("timezone", "Asia/Ho_Chi_Minh"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"[interop] timezone {timezone!r} is not a time zone") from exc
    return InteropConfig(axis_trust=trust, accept=tuple(map(str, table.get("accept", ()))),
                         refuse=tuple(map(str, table.get("refuse", ()))),
                         aliases={str(key): str(value) for key, value in aliases.items()},
                         timezone=timezone)


def _calendar(table: Any, base: Path) -> Path | None:
    if not isinstance(table, dict):
        raise ConfigError("[calendar] must be a table")
    if set(table) - {"overrides"}:
        raise ConfigError(f"unknown setting(s) in [calendar]: {sorted(set(table) - {'overrides'})}",
                          hint="overrides = \"calendar.toml\"")
    overrides = table.get("overrides")
    return _path(base, overrides, "calendar overrides") if overrides else None


def _pdf(table: Any, base: Path) -> PdfConfig:
    if not isinstance(table, dict):
        raise ConfigError("[pdf] must be a table")
    unknown = set(table) - {"trust", "crls", "on_invalid", "revocation", "fetch"}
    if unknown:
        raise ConfigError(f"unknown setting(s) in [pdf]: {sorted(unknown)}",
                          hint="trust, crls, on_invalid, revocation, fetch")
    on_invalid = str(table.get("on_invalid", "record"))
    if on_invalid not in ("record", "reject"):  # not a state: the [pdf] policy
        raise ConfigError(f"[pdf] on_invalid must be record or reject, not {on_invalid!r}")
    revocation = str(table.get("revocation", "require"))
    if revocation not in ("require", "hard-fail", "soft-fail"):
        raise ConfigError(f"[pdf] revocation must be require, hard-fail or soft-fail, not "
                          f"{revocation!r}")
    fetch = table.get("fetch", False)
    if not isinstance(fetch, bool):
        raise ConfigError("[pdf] fetch must be true or false")
    trust, crls = table.get("trust"), table.get("crls")
    return PdfConfig(trust=_path(base, trust, "pdf trust") if trust else None,
                     crls=_path(base, crls, "pdf crls") if crls else None,
                     on_invalid=on_invalid, revocation=revocation, fetch=fetch)


def write_config(home: Path, organ: OrganInfo, *, port: int = 8080,
                 peers: dict[str, str] | None = None, directory: str | None = None,
                 role: str = "node") -> Path:
    """Write a default ``node.toml`` into ``home`` (used by ``docflow init``)."""
    lines = [
        "[node]",
        f'organ = "{organ.code}"',
        f"name = {_toml_string(organ.name)}",
        'database = "sqlite:///node.db"',
        'key = "keys/organ.key"',
        'certificate = "keys/organ.crt"',
        'trust = "trust"',
        *([f"directory = {_toml_string(directory)}"] if directory else []),
        f'role = "{role}"',
        "",
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        "checkpoint_every = 3600.0  # sign the audit chain's head this often (0: never)",
        'checkpoint_dir = "checkpoints"',
        "",
        "[peers]",
        *(f'"{code}" = {_toml_string(url)}' for code, url in (peers or {}).items()),
        "",
    ]
    path = home / CONFIG_NAME
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _toml_string(value: str) -> str:
    return toml_string(value)
