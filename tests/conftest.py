"""Shared test configuration: hypothesis profiles (bigger in CI) and common fixtures."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from docflow.security import (
    Credentials,
    KeyType,
    TrustStore,
    create_ca,
    issue_certificate,
)
from tests.postgres import PostgresCluster, missing_binaries, start_cluster

if TYPE_CHECKING:
    from docflow.node import Node

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """Folder of hand-written test packets."""
    return DATA


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


# ----------------------------------------------------------------------- PKI fixtures
NOW = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Pki:
    """A province CA with organ credentials, a foreign CA, and a trust store at NOW."""

    now: dt.datetime
    ca: Credentials
    province: Credentials  # 000.00.00.H41
    district: Credentials  # 000.00.01.H41 (Tam Kỳ, the sample recipient)
    hub: Credentials  # 000.00.90.H41 (the province LGSP)
    province_ec: Credentials  # 000.00.00.H41 with an ECDSA P-256 key
    foreign_ca: Credentials
    rogue_province: Credentials  # 000.00.00.H41 issued by the foreign CA
    neighbour_ca: Credentials  # Đà Nẵng's CA, trusted, bound to *.*.*.H43 by name constraints
    neighbour_forgery: Credentials  # 000.00.00.H41 issued by the neighbour's CA
    trust: TrustStore  # the test CA (trusted for every organ) and the neighbour's CA


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = create_ca("Quảng Nam test CA", now=NOW)
    foreign = create_ca("Somebody else's CA", now=NOW)
    neighbour = create_ca("Đà Nẵng test CA", now=NOW, key_type=KeyType.ECDSA_P256,
                          organs=["*.*.*.H43"])
    return Pki(
        now=NOW,
        ca=ca,
        province=issue_certificate(ca, "000.00.00.H41", "UBND tỉnh Quảng Nam", now=NOW),
        district=issue_certificate(ca, "000.00.01.H41", "UBND thành phố Tam Kỳ", now=NOW),
        hub=issue_certificate(ca, "000.00.90.H41", "LGSP Quảng Nam", now=NOW),
        province_ec=issue_certificate(ca, "000.00.00.H41", "UBND tỉnh Quảng Nam (EC)", now=NOW,
                                      key_type=KeyType.ECDSA_P256),
        foreign_ca=foreign,
        rogue_province=issue_certificate(foreign, "000.00.00.H41", "UBND tỉnh Quảng Nam",
                                         now=NOW),
        neighbour_ca=neighbour,
        neighbour_forgery=issue_certificate(neighbour, "000.00.00.H41", "UBND tỉnh Quảng Nam",
                                            now=NOW, key_type=KeyType.ECDSA_P256,
                                            check_scope=False),
        trust=TrustStore([ca.certificate, neighbour.certificate],
                         organs={ca.certificate: ["*"]}),
    )


# ----------------------------------------------------------------------- databases

@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster (skipped without server binaries, except in CI)."""
    missing = missing_binaries()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL server binaries {missing} are required in CI")
        pytest.skip(f"PostgreSQL server binaries {missing} are not on PATH")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind docflow supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    with cluster.database() as url:
        yield url


def node_pair(pki: Pki, tmp_path: Path, *, kind: str = "sqlite", clock: Clock | None = None
              ) -> tuple[Node, Node]:
    r"""The province and Tam Kỳ as two nodes over one in-memory transport, on one clock
    (``pki.now`` unless given): on SQLite files, or (``kind="memory"``) on
    :class:`MemoryStore`\ s (close them after: ``with province, district:``)."""
    from docflow.node import Node
    from docflow.samples import PROVINCE, TAM_KY
    from docflow.store import Store, sqlite_url
    from docflow.store.memory import MemoryStore
    from docflow.transport import InMemoryTransport

    clock = clock or Clock(pki.now)
    transport = InMemoryTransport()
    nodes = []
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district)):
        store = Store.open(sqlite_url(tmp_path / f"{organ.code}.db"), clock=clock) \
            if kind == "sqlite" else MemoryStore(clock=clock)
        node = Node(organ, credentials, pki.trust, store, transport, clock=clock)
        transport.register(organ.code, node)
        nodes.append(node)
    return nodes[0], nodes[1]


@pytest.fixture(params=["sqlite", "memory"])
def both_stores(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path
                ) -> Iterator[tuple[Node, Node]]:
    """:func:`node_pair` on SQLite and again in memory, closed after the test."""
    province, district = node_pair(pki, tmp_path, kind=str(request.param))
    with province, district:
        yield province, district
