"""PostgreSQL for the tests: the shared server, a fresh database per test, a private cluster.

tests/conftest.py imports these fixtures, so any test can ask for them:

* ``pg_server`` (session): the URL of the shared server, ``postgresql://postgres@127.0.0.1:5432/
  postgres`` (or the ``root`` role), or ``COMPLIANCE_TEST_PG`` when set. A server that does not
  answer FAILS the test with how to start it: CI must not skip the PostgreSQL tests silently.
* ``pg_database`` (function): the URL of a new, empty database on that server, dropped after the
  test (its other connections terminated first). ``pg_database_factory`` makes more than one.
  Names hold the xdist worker and a random suffix, so parallel workers never share one.
* ``pg_cluster`` (function, opt-in): a private PostgreSQL cluster, made by initdb (trust
  authentication) in a temporary folder and started by pg_ctl on a free port of 127.0.0.1, with
  the server's default fsync and synchronous_commit. It has ``.url``, ``.stop()``, ``.start()``,
  ``.restart()`` and is always stopped at teardown. Tests that stop, restart or kill a server use
  this one, never the shared server. PostgreSQL refuses to run as root: as root the cluster is
  run as the ``postgres`` OS user (``runuser -u postgres --``) in a folder it owns under the
  system's temporary folder (pytest's own, under /tmp/pytest-of-root, is closed to other users).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV_URL = "COMPLIANCE_TEST_PG"
DEFAULT_URLS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)
HOW_TO_START = (
    "The PostgreSQL tests need a server: start the machine's with "
    "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' "
    "(or run 'bash .ci/ensure-postgres', which also installs it if missing), "
    f"or point {ENV_URL} at one (postgresql://USER@HOST:PORT/DB, a role that may CREATE DATABASE)."
)
DB_PREFIX = "compliance_test_"


def _psycopg():
    try:
        import psycopg
    except ImportError:  # pragma: no cover - dev installs it
        pytest.fail(
            "psycopg is not installed: python -m pip install -e '.[dev]' "
            "(or 'psycopg[binary]>=3.1' psycopg_pool)",
            pytrace=False,
        )
    return psycopg


def with_dbname(url: str, dbname: str) -> str:
    """The same server's URL (or key=value conninfo) with another database."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + dbname))
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url, dbname=dbname)


def worker_id() -> str:
    """The xdist worker ('gw0', ...), or 'main' without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


# --------------------------------------------------------------------------------------------
# The shared server
# --------------------------------------------------------------------------------------------


def find_server() -> tuple[str | None, list[str]]:
    """The first URL that connects and may create databases, and the errors of the others."""
    psycopg = _psycopg()
    override = os.environ.get(ENV_URL)
    candidates = [override] if override else list(DEFAULT_URLS)
    errors = []
    for url in candidates:
        try:
            with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
                if not (row and row[0]):
                    errors.append(f"{url}: the role may not CREATE DATABASE")
                    continue
            return url, errors
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip()}")
    return None, errors


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The shared PostgreSQL server's URL (to its maintenance database); fails, never skips."""
    url, errors = find_server()
    if url is None:
        pytest.fail(
            "PostgreSQL is not reachable: " + "; ".join(errors) + "\n" + HOW_TO_START,
            pytrace=False,
        )
    return url


# --------------------------------------------------------------------------------------------
# A fresh database per test
# --------------------------------------------------------------------------------------------


def create_database(server_url: str, prefix: str = DB_PREFIX) -> str:
    """Create an empty database with a unique name on the server; return its URL."""
    psycopg = _psycopg()
    from psycopg import sql

    name = f"{prefix}{worker_id()}_{secrets.token_hex(4)}".lower()[:63]
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_dbname(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Terminate the database's other connections, then drop it (if it is still there)."""
    psycopg = _psycopg()
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        # WITH (FORCE) (PostgreSQL 13+) also ends a connection that came in after the terminate
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def pg_database_factory(pg_server: str) -> Iterator[Callable[[], str]]:
    """make() -> the URL of a new empty database; every one made is dropped after the test."""
    made: list[str] = []

    def make() -> str:
        url = create_database(pg_server)
        made.append(url)
        return url

    yield make
    errors = []
    for url in made:
        try:
            drop_database(pg_server, url)
        except Exception as exc:  # drop the others anyway, then report
            errors.append(f"{url}: {exc}")
    if errors:
        pytest.fail("could not drop test databases: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def pg_database(pg_database_factory: Callable[[], str]) -> str:
    """The URL of a new, empty database on the shared server, dropped after the test."""
    return pg_database_factory()


# --------------------------------------------------------------------------------------------
# The roles a deployment has (README: "Deploying on PostgreSQL"): owner, application, reader
# --------------------------------------------------------------------------------------------


def with_user(url: str, user: str) -> str:
    """The same database's URL as another role."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


class Roles:
    """Three login roles (trust authentication): owner, app and reader, named for the worker."""

    def __init__(self, server: str) -> None:
        stem = f"compliance_t_{worker_id()}_{secrets.token_hex(3)}"
        self.server = server
        self.owner, self.app, self.reader = (f"{stem}_{part}" for part in ("owner", "app", "read"))

    def ledger(self, *, reader: bool = True) -> str:
        """A new database owned by the owner role, a ledger created in it by the owner (with
        the environment's subject key, as `compliance ledger init` would), `ledger grants`
        run by the owner; returns the URL the application logs in with."""
        from psycopg import sql

        from compliance.gate.ledger import open_ledger
        from compliance.gate.ledger.pg_grants import statements

        psycopg = _psycopg()
        url = create_database(self.server)
        name = url.rsplit("/", 1)[-1]
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(name), sql.Identifier(self.owner)
                )
            )
        owner = with_user(url, self.owner)
        open_ledger(owner, create=True, checkpoint_every=None).close()
        with psycopg.connect(owner, autocommit=True) as conn:
            for line in statements(self.app, self.reader if reader else None):
                if not line.startswith("--"):
                    conn.execute(line)
        self.made.append(url)
        return with_user(url, self.app)

    made: list[str]


@pytest.fixture(scope="session")
def pg_roles(pg_server: str) -> Iterator[Roles]:
    """Roles owner, app and reader on the shared server; `.ledger()` makes a database with a
    ledger the owner created and granted, and returns the app's URL. Dropped at the end."""
    psycopg = _psycopg()
    roles = Roles(pg_server)
    roles.made = []
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for role in (roles.owner, roles.app, roles.reader):
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
    yield roles
    for url in roles.made:
        with contextlib.suppress(Exception):
            drop_database(pg_server, url)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for role in (roles.owner, roles.app, roles.reader):
            with contextlib.suppress(psycopg.Error):
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


# --------------------------------------------------------------------------------------------
# A private cluster
# --------------------------------------------------------------------------------------------


def pg_bindir() -> Path:
    """The folder of initdb, pg_ctl and postgres: PG_BINDIR, then PATH, then Debian's newest."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if debian:
        return Path(debian[-1]).parent
    pytest.fail(
        "initdb and pg_ctl are not found (not on PATH nor under /usr/lib/postgresql/*/bin): "
        "install PostgreSQL's server (apt-get install postgresql) or set PG_BINDIR",
        pytrace=False,
    )


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A private PostgreSQL cluster in its own folder, on its own port of 127.0.0.1."""

    def __init__(self, base: Path, bindir: Path, run_as: str | None) -> None:
        self.base = base
        self.datadir = base / "data"
        self.logfile = base / "server.log"
        self.bindir = bindir
        self.run_as = run_as  # OS user to run as (postgres, when we are root), or None
        self.user = "postgres"  # the database superuser initdb makes
        self.port = 0

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        return subprocess.run(
            cmd,
            cwd=self.base,  # the server user must be able to enter its working folder
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def init(self) -> None:
        # --no-sync: initdb does not fsync the files it wrote (a test cluster need not survive
        # a power cut of the machine); the running server keeps fsync=on, synchronous_commit=on
        done = self._run(
            "initdb", "-D", str(self.datadir), "-A", "trust", "-U", self.user,
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start the server (on the port it had, or a free one the first time); wait for it."""
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            port = self.port or free_port()
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                "-c max_connections=40 -c shared_buffers=16MB"
            )
            done = self._run(
                "pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.logfile),
                "-w", "-t", "60", "-o", options,
            )  # fmt: skip
            if done.returncode == 0:
                self.port = port
                return
            if "already in use" not in self._log_tail(5) or self.port:
                break  # only a port taken meanwhile is worth another try on another port
        raise RuntimeError(
            f"pg_ctl start failed ({done.returncode}): {done.stdout}{done.stderr}\n"
            f"server log:\n{self._log_tail()}"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: mode 'fast' (a clean shutdown), 'smart' or 'immediate' (as a
        crash: no checkpoint, recovery at the next start). Stopping a stopped one is a no-op."""
        if not self.running():
            return
        done = self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", mode, "-w", "-t", "60")
        if done.returncode != 0 and self.running():
            raise RuntimeError(f"pg_ctl stop failed: {done.stdout}{done.stderr}")

    def restart(self, mode: str = "fast") -> None:
        """Stop (mode as for stop()) and start again on the same port."""
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.datadir)).returncode == 0

    def connect(self, **kwargs):
        return _psycopg().connect(self.url, connect_timeout=5, **kwargs)

    def standby(self) -> PgCluster:
        """A hot standby of this (running) cluster, streaming from it: pg_basebackup -R into a
        folder beside this one's data, started on a port of its own."""
        replica = PgCluster(self.base, self.bindir, self.run_as)
        replica.datadir = self.base / "standby"
        replica.logfile = self.base / "standby.log"
        done = self._run(
            "pg_basebackup", "-D", str(replica.datadir), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", self.user, "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {done.stdout}{done.stderr}")
        replica.start()
        return replica


def _cluster_base(tmp_path: Path) -> tuple[Path, str | None, bool]:
    """The cluster's folder, the OS user to run it as, and whether we must delete the folder."""
    if os.geteuid() != 0:
        return tmp_path / "pg", None, False
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "running as root, and PostgreSQL will not run as root: a private cluster needs the "
            "'postgres' OS user (installed with Debian's postgresql package)",
            pytrace=False,
        )
    if not shutil.which("runuser"):
        pytest.fail("running as root and runuser (util-linux) is missing", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix=f"compliance-pg-{worker_id()}-"))
    os.chown(base, owner.pw_uid, owner.pw_gid)
    return base, "postgres", True


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[PgCluster]:
    """A private, started PostgreSQL cluster (see the module's docstring); stopped afterwards."""
    _psycopg()
    base, run_as, remove = _cluster_base(tmp_path)
    base.mkdir(exist_ok=True)
    cluster = PgCluster(base, pg_bindir(), run_as)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop("fast")
        if cluster.running():  # a hung fast shutdown: do not leave a server behind
            with contextlib.suppress(Exception):
                cluster.stop("immediate")
        if remove:
            shutil.rmtree(base, ignore_errors=True)


def wait_until(predicate: Callable[[], bool], timeout: float = 10, every: float = 0.05) -> bool:
    """Poll predicate() until it is true or timeout seconds have passed; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
