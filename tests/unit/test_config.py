"""The node configuration loader: paths relative to the file, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from docflow.bootstrap import axis_client
from docflow.config import load_config, write_config
from docflow.errors import ConfigError
from docflow.model import OrganCode, OrganInfo


def test_written_config_reads_back_with_absolute_paths(tmp_path: Path) -> None:
    organ = OrganInfo(OrganCode("000.00.01.H41"), 'UBND "Tam Kỳ"')
    write_config(tmp_path, organ, port=9000, peers={"000.00.00.H41": "http://127.0.0.1:9001/"})
    config = load_config(tmp_path)
    assert config.organ == organ
    assert config.database == f"sqlite:///{tmp_path.resolve() / 'node.db'}"
    assert config.key == tmp_path.resolve() / "keys" / "organ.key"
    assert config.server.port == 9000
    assert config.peers == {OrganCode("000.00.00.H41"): "http://127.0.0.1:9001/"}


def test_signed_checkpoints_are_on_by_default_and_written_by_init(tmp_path: Path) -> None:
    """Issue 20, item 9: one truth: hourly, whether node.toml says so or not."""
    organ = OrganInfo(OrganCode("000.00.01.H41"), "UBND Tam Kỳ")
    written = write_config(tmp_path, organ).read_text(encoding="utf-8")
    assert "checkpoint_every = 3600.0" in written and 'checkpoint_dir = "checkpoints"' in written
    assert load_config(tmp_path).server.checkpoint_every == 3600.0
    (tmp_path / "node.toml").write_text('[node]\norgan = "000.00.01.H41"\nname = "x"\n',
                                        encoding="utf-8")
    assert load_config(tmp_path).server.checkpoint_every == 3600.0


@pytest.mark.parametrize(("text", "fragment"), [
    ("this is not toml = =", "invalid TOML"),
    ("[server]\nport = 1", r"missing \[node\]"),
    ('[node]\nname = "x"', r"\[node\] organ is missing"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\ncolour = 1',
     r"unknown setting\(s\) in \[node\]"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\ntimezone = "Mars/Base"',
     "unknown time zone 'Mars/Base'"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[server]\nport = "80a"',
     r"\[server\] port must be a whole number"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[server]\nport = 70000', "between 1 and"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[server]\nretry_intervals = ["x"]',
     "list of positive seconds"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[server]\nlease = "long"',
     r"\[server\] lease must be a number of seconds"),
    ('[node]\norgan = "H41"\nname = "x"', "not a valid organ code"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[server]\nspeed = 3', "unknown setting"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[server]\ndeliver_workers = 0',
     "at least 1"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[server]\ncheckpoint_every = -1',
     "must not be negative"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[interop]\naxis_trust = "maybe"',
     "require or channel"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[interop]\naliases = { a = "H41" }',
     "not a valid organ code"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[interop]\ntimezone = "Mars/Base"',
     "not a time zone"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[interop]\nstrictness = 3',
     "unknown setting"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[pdf]\non_invalid = "ignore"',
     "on_invalid must be record or reject"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[pdf]\nrevocation = "lenient"',
     "revocation must be require, hard-fail or soft-fail"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[pdf]\nfetch = "yes"',
     "fetch must be true or false"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[pdf]\ntrusted = "x"',
     r"unknown setting\(s\) in \[pdf\]"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[calendar]\nholidays = "x"',
     r"unknown setting\(s\) in \[calendar\]"),
    ('[node]\norgan = "000.00.00.H41"\nname = "x"\n[server]\ncheckpoint_tsa = 5',
     r"\[server\] checkpoint_tsa must be text"),
])
def test_bad_configs_say_what_is_wrong(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "node.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(tmp_path)
    assert "node.toml" in str(info.value)
    assert "__init__" not in str(info.value) and "keyword argument" not in str(info.value)


def test_missing_home(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="docflow init"):
        load_config(tmp_path / "nowhere")


def test_the_interop_table_makes_the_nodes_policy(tmp_path: Path) -> None:
    write_config(tmp_path, OrganInfo(OrganCode("000.00.00.H41"), "UBND tỉnh"))
    with (tmp_path / "node.toml").open("a", encoding="utf-8") as file:
        file.write('[interop]\naxis_trust = "channel"\naccept = ["M.MessageHeader.DocumentId"]\n'
                   'aliases = { "vxp.saas.03" = "000.00.07.H41" }\ntimezone = "UTC"\n')
    interop = load_config(tmp_path).interop
    assert interop.axis_trust == "channel"
    policy = interop.policy()
    assert policy.accept == ("M.MessageHeader.DocumentId",)
    assert policy.aliases == {"vxp.saas.03": "000.00.07.H41"} and policy.tz.key == "UTC"


@pytest.mark.parametrize(("table", "kind"), [
    ('dialect = "vdxp"\nurl = "https://axis.example/"\nsystem_id = "vxp.saas.03"\n'
     'secret_env = "AXIS_SECRET"\n', "VxpClient"),
    ('dialect = "lgsp-token"\nurl = "https://lgsp.example/"\nsystem_id = "H20.UB.001"\n'
     'secret_env = "AXIS_SECRET"\nusername = "vanthu"\npassword_env = "AXIS_SECRET"\n'
     'application_code = "EOFFICE"\n', "TokenLgspClient"),
    ('dialect = "wso2"\nurl = "https://gw.example:8247/"\nconsumer_key = "k"\n'
     'consumer_secret_env = "AXIS_SECRET"\nunit_secret_env = "AXIS_SECRET"\n', "Wso2Client"),
])
def test_the_axis_table_chooses_the_dialect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             table: str, kind: str) -> None:
    write_config(tmp_path, OrganInfo(OrganCode("000.00.00.H41"), "UBND tỉnh"))
    with (tmp_path / "node.toml").open("a", encoding="utf-8") as file:
        file.write("[axis]\n" + table)
    axis = load_config(tmp_path).axis
    assert axis is not None
    monkeypatch.delenv("AXIS_SECRET", raising=False)
    with pytest.raises(ConfigError, match="AXIS_SECRET is not set"):
        axis_client(axis)
    monkeypatch.setenv("AXIS_SECRET", "s3cret")
    client = axis_client(axis)
    assert type(client).__name__ == kind
    client.close()


def test_the_wso2_profile_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the gateway wants each parameter is an assumption: [axis] locations says."""
    write_config(tmp_path, OrganInfo(OrganCode("000.00.00.H41"), "UBND tỉnh"))
    with (tmp_path / "node.toml").open("a", encoding="utf-8") as file:
        file.write('[axis]\ndialect = "wso2"\nurl = "https://gw.example/"\nconsumer_key = "k"\n'
                   'consumer_secret_env = "S"\nunit_secret_env = "S"\n'
                   'locations = { secret = "query", status = "form" }\n')
    monkeypatch.setenv("S", "s3cret")
    axis = load_config(tmp_path).axis
    assert axis is not None
    client = axis_client(axis)
    assert client.profile.locations["secret"] == "query"  # noqa: S105 - a location
    assert client.profile.locations["status"] == "form"
    assert client.profile.locations["base64"] == "form"  # the default kept
    client.close()


@pytest.mark.parametrize(("table", "fragment"), [
    ('dialect = "soap"\nurl = "https://x/"\n', "dialect must be one of"),
    ('dialect = "vdxp"\nurl = "ftp://x/"\nsystem_id = "a"\nsecret_env = "B"\n', "url"),
    ('dialect = "wso2"\nurl = "https://x/"\nconsumer_key = "k"\n', "needs consumer_secret_env"),
    ('dialect = "vdxp"\nurl = "https://x/"\nsystem_id = "a"\nsecret_env = "B"\nsecret = "c"\n',
     "unknown setting"),
    ('dialect = "vdxp"\nurl = "https://x/"\nsystem_id = "a"\nsecret_env = "B"\n'
     'locations = { secret = "query" }\n', "unknown setting"),
    ('dialect = "wso2"\nurl = "https://x/"\nconsumer_key = "k"\nconsumer_secret_env = "B"\n'
     'unit_secret_env = "C"\nlocations = { secret = "cookie" }\n', "header, query or form"),
])
def test_bad_axis_tables(tmp_path: Path, table: str, fragment: str) -> None:
    write_config(tmp_path, OrganInfo(OrganCode("000.00.00.H41"), "UBND tỉnh"))
    with (tmp_path / "node.toml").open("a", encoding="utf-8") as file:
        file.write("[axis]\n" + table)
    with pytest.raises(ConfigError, match=fragment):
        load_config(tmp_path)
