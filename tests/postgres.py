"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl in a temporary folder,
on a free port of 127.0.0.1, as a non-root user when the tests run as root."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

USER = "docflow"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running cluster; :meth:`database` makes a fresh database for one test."""

    base: Path
    port: int
    prefix: list[str]

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    @contextmanager
    def database(self) -> Iterator[str]:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url(name)
        finally:
            with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        subprocess.run([*self.prefix, "pg_ctl", "-D", str(self.base / "data"), "-m", "fast",
                        "-w", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


def missing_binaries() -> list[str]:
    return [name for name in ("initdb", "pg_ctl", "postgres") if shutil.which(name) is None]


def start_cluster(*, durable: bool = False) -> PostgresCluster:
    """Start a cluster; ``durable=False`` (tests) turns fsync off, benchmarks keep it."""
    base = Path(tempfile.mkdtemp(prefix="docflow-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = pwd.getpwnam("nobody")
        os.chown(base, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "nobody", "--"]
    subprocess.run([*prefix, "initdb", "-D", str(base / "data"), "--auth=trust",
                    f"--username={USER}", "-E", "UTF8", "--locale=C.UTF-8"],
                   check=True, capture_output=True)
    port = free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c full_page_writes=off"
    subprocess.run([*prefix, "pg_ctl", "-D", str(base / "data"), "-o", options,
                    "-l", str(base / "server.log"), "-w", "-t", "60", "start"],
                   check=True, capture_output=True)
    return PostgresCluster(base, port, prefix)
