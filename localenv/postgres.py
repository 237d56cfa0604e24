"""A PostgreSQL for local runs: the one at host:port, or a private server we start.

The private server lives in `.localenv/pgdata`. It uses the system's PostgreSQL binaries when
there are any, else the ones shipped in the `pgserver` wheel. PostgreSQL refuses to run as
root, so as root the server runs as the unprivileged `postgres` user (created if missing).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

import psycopg
from psycopg import sql

from localenv import LocalEnvError
from localenv.process import LOCAL_HOSTS, STATE_DIR, alive, port_open, terminate, wait_for_port

OS_USER = "postgres"
INITDB_OPTIONS = ["--auth=scram-sha-256", "--no-locale", "--encoding=UTF8"]
USER_LOGINS_DDL = """CREATE TABLE IF NOT EXISTS user_logins(
    user_id varchar(128),
    device_type varchar(32),
    masked_ip varchar(256),
    masked_device_id varchar(256),
    locale varchar(32),
    app_version integer,
    create_date date
);"""


class PostgresStatus(NamedTuple):
    """What `ensure_postgres` did."""

    started: bool
    created_table: bool


def conninfo(host: str, port: int, user: str, password: str, database: str) -> str:
    """Return a libpq connection string."""
    return psycopg.conninfo.make_conninfo(
        host=host, port=port, user=user, password=password, dbname=database, connect_timeout=10
    )


def _system_bindirs() -> list[Path]:
    """Return where the system's PostgreSQL programs may be, best guess first."""
    pg_ctl = shutil.which("pg_ctl")
    pg_config = shutil.which("pg_config")
    bindirs = [Path(pg_ctl).parent] if pg_ctl else []
    if pg_config:
        run = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)  # noqa: S603
        bindirs.append(Path(run.stdout.strip() or "/nonexistent"))
    return bindirs + [Path(path) for path in glob.glob("/usr/lib/postgresql/*/bin")]


def find_bindir(wheel: bool = False) -> Path:
    """Return a directory holding initdb, pg_ctl and postgres.

    Args:
        wheel: Use the `pgserver` wheel's binaries even if the system has its own.

    Raises:
        LocalEnvError: if the system has none and `pgserver` is not installed.
    """
    for path in [] if wheel else _system_bindirs():
        if all((path / program).is_file() for program in ("initdb", "pg_ctl", "postgres")):
            return path
    spec = importlib.util.find_spec("pgserver")  # located, not imported: it has side effects
    if spec is None or spec.origin is None:
        raise LocalEnvError(
            "no PostgreSQL binaries found: install PostgreSQL or `pip install pgserver==0.1.4`"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _server_account(*reached: Path) -> pwd.struct_passwd | None:
    """Return the OS account to run the server as when we are root, else None.

    The account is `postgres`, created if missing. Every directory above the `reached` paths
    is made traversable by others (o+x, not listable) so that the account can reach them.
    """
    if os.geteuid() != 0:
        return None
    try:
        account = pwd.getpwnam(OS_USER)
    except KeyError:
        useradd = [_system_tool("useradd"), "--system", "--user-group", OS_USER]
        subprocess.run(useradd, check=True)  # noqa: S603
        account = pwd.getpwnam(OS_USER)
    for parent in {parent for path in reached for parent in path.resolve().parents}:
        if not parent.stat().st_mode & stat.S_IXOTH:
            parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
    return account


def _system_tool(name: str) -> str:
    """The path of an administrator's command (``runuser``, ``useradd``), in sbin if not on PATH.

    cron, systemd and ``env -i`` give root a PATH without /usr/sbin and /sbin.
    """
    search = os.pathsep.join(filter(None, (os.environ.get("PATH"), "/usr/sbin", "/sbin")))
    path = shutil.which(name, path=search)
    if path is None:
        raise LocalEnvError(f"{name} is not installed: PostgreSQL cannot run as {OS_USER}")
    return path


def _run(argv: list[str], account: pwd.struct_passwd | None, owned: list[Path]) -> None:
    """Run a PostgreSQL command as `account` (None: as ourselves), giving it `owned` first."""
    if account is not None:
        for path in owned:
            os.chown(path, account.pw_uid, account.pw_gid)
        argv = [_system_tool("runuser"), "-u", account.pw_name, "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, cwd="/", check=False)  # noqa: S603
    if result.returncode:
        raise LocalEnvError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")


def start_private_postgres(
    port: int,
    data_dir: Path,
    host: str,
    user: str,
    password: str,
    bindir: Path | None = None,
) -> int:
    """Start (creating if needed) a private server listening on host:port only.

    Returns:
        The postmaster's pid; stop it with `stop_private_postgres(data_dir)`.
    """
    bindir = bindir or find_bindir()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    account = _server_account(data_dir, bindir)
    if not (data_dir / "PG_VERSION").exists():
        with tempfile.NamedTemporaryFile("w", dir=data_dir.parent, suffix=".pw") as pwfile:
            pwfile.write(password)
            pwfile.flush()
            initdb = [str(bindir / "initdb"), "-D", str(data_dir), "-U", user, *INITDB_OPTIONS]
            _run([*initdb, f"--pwfile={pwfile.name}"], account, [data_dir, Path(pwfile.name)])
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write("unix_socket_directories = ''  # TCP only\n")
    log = data_dir / "server.log"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(log), "-w"]
    _run([*pg_ctl, "-o", f"-p {port} -h {host}", "start"], account, [data_dir])
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    wait_for_port(host, port, pid, log)
    return pid


def stop_private_postgres(data_dir: Path = STATE_DIR / "pgdata") -> bool:
    """Fast-shut-down the private server in `data_dir`, if it runs.

    Returns:
        Whether a running server was stopped.
    """
    pidfile = data_dir / "postmaster.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().split()[0])
    running = alive(pid)
    terminate(pid, signal.SIGINT)
    return running


def create_database(dsn: str, name: str) -> None:
    """Create database `name` on the server of `dsn` (which names an existing database)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(dsn: str, name: str) -> None:
    """Drop database `name`, if it exists, on the server of `dsn`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def ensure_user_logins(dsn: str) -> bool:
    """Create public.user_logins with the reference DDL unless it exists; never alter it.

    Returns:
        Whether the table was created.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('public.user_logins')").fetchone() != (None,):
            return False
        conn.execute("SET search_path TO public")
        conn.execute(USER_LOGINS_DDL)
        return True


def ensure_postgres(
    host: str, port: int, user: str, password: str, database: str, state_dir: Path = STATE_DIR
) -> PostgresStatus:
    """Make sure a server answers at host:port with `database` and public.user_logins.

    Raises:
        LocalEnvError: naming the TARGET_POSTGRES_* setting to fix.
    """
    started = not port_open(host, port)
    if started and host not in LOCAL_HOSTS:
        raise LocalEnvError(
            f"nothing answers at TARGET_POSTGRES_HOST={host!r} TARGET_POSTGRES_PORT={port}"
        )
    if started:
        start_private_postgres(port, state_dir / "pgdata", host, user, password)
    admin = conninfo(host, port, user, password, "postgres")
    try:
        with psycopg.connect(admin) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            missing = found.fetchone() is None
        if missing:
            create_database(admin, database)
        created = ensure_user_logins(conninfo(host, port, user, password, database))
    except psycopg.Error as error:
        raise LocalEnvError(
            f"PostgreSQL at {host}:{port} refused TARGET_POSTGRES_USER={user!r} / "
            f"TARGET_POSTGRES_PASSWORD / TARGET_POSTGRES_DATABASE={database!r}: {error}"
        ) from error
    return PostgresStatus(started, created)
