"""The servicing catalog: one SQLite file recording images, updates and every run.

What Configuration Manager keeps in its site database for its image library, kept here in
an embedded database through the standard library's :mod:`sqlite3`: the images (WIM path,
index, edition, architecture, build and UBR, languages, file hash at import), the updates
of the content library (identity, KB, kind, architecture, file hashes, where stored, what
supersedes what), the packages each image had at import, and every run since (when,
backend, per image and per package what it became, with the post-check's verdict, and the
log of each). WAL mode, foreign keys on, schema versioned with ``PRAGMA user_version`` and
forward migrations. This module must not import Dask: the catalog is read by commands that
never start a cluster (``status``, ``history``, ``cancel``).

One writer at a time: a run's client writes results as they arrive, each in its own
transaction, so a killed client loses nothing already recorded. ``cancel`` from another
process only sets a flag on the run (a short write; SQLite's busy timeout covers it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wimcore.atomic import pid_alive
from wimcore.fleet.errors import CatalogError, CatalogVersionError, NotRegisteredError

ENV_CATALOG = "WIMCORE_CATALOG"

#: Run states: Configuration Manager's, and ``incomplete`` (as ``service_wim`` says it): no
#: image failed, but one or more could not be serviced (the backend cannot install into them).
RUN_STATES = ("in process", "successful", "incomplete", "failed", "cancelled")
#: Image states of a run that count as success.
IMAGE_OK_STATES = frozenset({"staged", "installed", "nothing-to-do"})
#: Image states of an image left unchanged because the backend cannot service it.
IMAGE_UNSERVICED_STATES = frozenset({"not-serviced", "incomplete"})
#: An image whose task was stopped by ``fleet cancel`` or Ctrl-C: its WIM is unchanged.
IMAGE_CANCELLED = "cancelled"
#: An image whose task never ran because the run ended first (the scheduler was
#: unreachable, a worker check failed, the client stopped): its WIM is unchanged.
IMAGE_NEVER_STARTED = "never-started"
#: Image states that are neither success nor failure: nothing was attempted or it stopped.
IMAGE_STOPPED_STATES = frozenset({IMAGE_CANCELLED, IMAGE_NEVER_STARTED})

_SCHEMA_V1 = """
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE images (
    id               INTEGER PRIMARY KEY,
    wim_path         TEXT NOT NULL,
    wim_index        INTEGER NOT NULL CHECK (wim_index >= 1),
    name             TEXT NOT NULL,
    edition          TEXT,
    arch             TEXT,
    build            INTEGER,
    ubr              INTEGER,
    image_type       TEXT,
    languages        TEXT NOT NULL DEFAULT '[]',
    image_count      INTEGER NOT NULL,
    source_path      TEXT,
    source_index     INTEGER,
    sha256_at_import TEXT NOT NULL,
    size_at_import   INTEGER NOT NULL,
    imported_at      TEXT NOT NULL,
    UNIQUE (wim_path, wim_index)
);
CREATE TABLE image_packages (
    image_id     INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    kb           TEXT,
    kind         TEXT,
    release_type TEXT,
    state        TEXT,
    PRIMARY KEY (image_id, key)
);
CREATE TABLE update_files (
    id           INTEGER PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,
    sha1         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    name         TEXT NOT NULL,
    format       TEXT NOT NULL,
    stored_path  TEXT NOT NULL,
    verification TEXT NOT NULL,
    imported_at  TEXT NOT NULL
);
CREATE TABLE updates (
    id           INTEGER PRIMARY KEY,
    file_id      INTEGER NOT NULL REFERENCES update_files(id) ON DELETE CASCADE,
    key          TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    arch         TEXT NOT NULL,
    kb           TEXT,
    kind         TEXT NOT NULL,
    release_type TEXT
);
CREATE TABLE supersedes (
    update_id     INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    superseded_id INTEGER NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    PRIMARY KEY (update_id, superseded_id)
);
CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    started          TEXT NOT NULL,
    finished         TEXT,
    status           TEXT NOT NULL CHECK (status IN
                         ('in process', 'successful', 'failed', 'cancelled')),
    backend          TEXT NOT NULL,
    scheduler        TEXT,
    options          TEXT NOT NULL DEFAULT '{}',
    client_host      TEXT NOT NULL,
    client_pid       INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    log_path         TEXT,
    note             TEXT
);
CREATE TABLE run_images (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    image_id    INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    started     TEXT,
    finished    TEXT,
    worker      TEXT,
    wim_changed INTEGER NOT NULL DEFAULT 0,
    size_before INTEGER,
    size_after  INTEGER,
    report_path TEXT,
    log_path    TEXT,
    error       TEXT,
    note        TEXT,
    PRIMARY KEY (run_id, image_id)
);
CREATE TABLE run_packages (
    run_id   TEXT NOT NULL,
    image_id INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    key      TEXT NOT NULL,
    kb       TEXT,
    kind     TEXT,
    state    TEXT NOT NULL CHECK (state IN ('installed', 'staged', 'failed', 'not-serviced')),
    reason   TEXT,
    verdict  TEXT,
    PRIMARY KEY (run_id, image_id, key),
    FOREIGN KEY (run_id, image_id) REFERENCES run_images(run_id, image_id) ON DELETE CASCADE
);
CREATE INDEX run_images_by_image ON run_images(image_id);
CREATE INDEX run_packages_by_image ON run_packages(image_id, state);
"""

#: Version 2: a run can be ``incomplete``. SQLite cannot change a CHECK constraint in
#: place, so the table is rebuilt (foreign keys off meanwhile, checked before the commit).
_RUNS_INCOMPLETE_V2 = """
CREATE TABLE runs_v2 (
    id               TEXT PRIMARY KEY,
    started          TEXT NOT NULL,
    finished         TEXT,
    status           TEXT NOT NULL CHECK (status IN
                         ('in process', 'successful', 'incomplete', 'failed', 'cancelled')),
    backend          TEXT NOT NULL,
    scheduler        TEXT,
    options          TEXT NOT NULL DEFAULT '{}',
    client_host      TEXT NOT NULL,
    client_pid       INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    log_path         TEXT,
    note             TEXT
);
INSERT INTO runs_v2(id, started, finished, status, backend, scheduler, options, client_host,
                    client_pid, cancel_requested, log_path, note)
    SELECT id, started, finished, status, backend, scheduler, options, client_host,
           client_pid, cancel_requested, log_path, note FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
"""

#: Version 3: an image whose task never ran because its run failed (scheduler unreachable,
#: no usable worker) is ``never-started``; versions 1-2 wrote ``cancelled`` for it, with
#: the note "not started: the run ended first", in runs that nobody cancelled.
_NEVER_STARTED_V3 = """
UPDATE run_images SET status = 'never-started',
    note = 'never started: the run ended first (the WIM was not touched)'
    WHERE status = 'cancelled' AND note = 'not started: the run ended first'
      AND run_id IN (SELECT id FROM runs WHERE status != 'cancelled'
                                           AND cancel_requested = 0);
"""

#: Forward migrations: entry N brings a catalog from user_version N to N + 1.
MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1, _RUNS_INCOMPLETE_V2, _NEVER_STARTED_V3)
SCHEMA_VERSION = len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """The SQL statements of a migration script, one by one (complete statements only)."""
    out: list[str] = []
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n;"):
                out.append(buf.strip())
            buf = ""
    return out


def default_catalog_path() -> Path:
    """``$WIMCORE_CATALOG``, else ``$XDG_DATA_HOME/wimcore/catalog.sqlite3`` (~/.local/share)."""
    env = os.environ.get(ENV_CATALOG)
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wimcore" / "catalog.sqlite3"


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


class Catalog:
    """An open servicing catalog (a context manager; ``close()`` is idempotent)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        """Open (creating and migrating as needed) the catalog at ``path`` (default path)."""
        self.path = Path(path) if path is not None else default_catalog_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(f"{self.path}: cannot open the catalog: {exc}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise CatalogError(f"{self.path}: not a usable catalog: {exc}") from None

    # -- plumbing ----------------------------------------------------------------------------

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        if self._db is not None:
            self._db.close()
            self._db = None  # type: ignore[assignment]

    @property
    def schema_version(self) -> int:
        """The catalog's ``PRAGMA user_version``."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise CatalogVersionError(
                f"{self.path}: schema version {version} is newer than this wimcore knows "
                f"({SCHEMA_VERSION}); upgrade wimcore")
        if version == SCHEMA_VERSION:
            return
        # Foreign keys off while tables are rebuilt: dropping the old table must not
        # cascade into the rows that refer to it. They are checked before each commit.
        self._db.execute("PRAGMA foreign_keys=OFF")
        try:
            for target in range(version, SCHEMA_VERSION):
                self._migrate_step(target)
        finally:
            self._db.execute("PRAGMA foreign_keys=ON")

    def _migrate_step(self, target: int) -> None:
        """Bring the catalog from ``target`` to ``target + 1`` in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self.schema_version > target:  # another process migrated it meanwhile
                self._db.execute("COMMIT")
                return
            for statement in _statements(MIGRATIONS[target]):
                self._db.execute(statement)
            dangling = self._db.execute("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise CatalogError(f"{self.path}: migration to schema version {target + 1} "
                                   f"would leave {len(dangling)} dangling reference(s)")
            self._db.execute(f"PRAGMA user_version={target + 1}")
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on error)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: cannot write the catalog: {exc}") from None
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: cannot write the catalog: {exc}") from None

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute(sql, args).fetchall()]

    # -- settings ----------------------------------------------------------------------------

    def setting(self, key: str, default: str | None = None) -> str | None:
        """A stored setting (library folder...), or ``default``."""
        row = self._db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        with self.transaction() as db:
            db.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    def library_dir(self) -> Path:
        """The content library folder (default: ``library/`` beside the catalog)."""
        return Path(self.setting("library") or self.path.parent / "library")

    # -- images ------------------------------------------------------------------------------

    def add_image(self, image: dict[str, Any], packages: Iterable[dict[str, Any]]) -> int:
        """Register one image and the packages it has at import; returns its id.

        An image already registered (same WIM path and index) is refreshed when its file
        hash changed and left alone otherwise.
        """
        cols = ("wim_path", "wim_index", "name", "edition", "arch", "build", "ubr",
                "image_type", "languages", "image_count", "source_path", "source_index",
                "sha256_at_import", "size_at_import", "imported_at")
        values = [image.get(c) for c in cols]
        values[cols.index("languages")] = json.dumps(list(image.get("languages") or []))
        values[cols.index("imported_at")] = image.get("imported_at") or now_iso()
        with self.transaction() as db:
            row = db.execute("SELECT id, sha256_at_import FROM images WHERE wim_path=? AND "
                             "wim_index=?", (image["wim_path"], image["wim_index"])).fetchone()
            if row is not None and row["sha256_at_import"] == image["sha256_at_import"]:
                return int(row["id"])
            if row is not None:
                image_id = int(row["id"])
                db.execute(f"UPDATE images SET {', '.join(c + '=?' for c in cols)} WHERE id=?",
                           (*values, image_id))
                db.execute("DELETE FROM image_packages WHERE image_id=?", (image_id,))
            else:
                cur = db.execute(f"INSERT INTO images({', '.join(cols)}) VALUES "
                                 f"({', '.join('?' for _ in cols)})", values)
                image_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT OR REPLACE INTO image_packages(image_id, key, kb, kind, release_type, "
                "state) VALUES (?, ?, ?, ?, ?, ?)",
                [(image_id, p["key"], p.get("kb"), p.get("kind"), p.get("release_type"),
                  p.get("state")) for p in packages])
        return image_id

    def images(self) -> list[dict[str, Any]]:
        """Every registered image (``languages`` decoded), by id."""
        rows = self._rows("SELECT * FROM images ORDER BY id")
        for r in rows:
            r["languages"] = json.loads(r["languages"])
        return rows

    def image(self, image_id: int) -> dict[str, Any]:
        """One image by id (NotRegisteredError when absent)."""
        found = [r for r in self.images() if r["id"] == image_id]
        if not found:
            raise NotRegisteredError(f"no image {image_id} in the catalog {self.path}")
        return found[0]

    def select_images(self, selectors: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Images by id or name (exact, then case-insensitive); all when none is given."""
        images = self.images()
        if not selectors:
            return images
        out: list[dict[str, Any]] = []
        for sel in selectors:
            hits = [i for i in images if str(i["id"]) == sel] or \
                [i for i in images if i["name"] == sel] or \
                [i for i in images if i["name"].lower() == sel.lower()]
            if not hits:
                raise NotRegisteredError(f"no image {sel!r} in the catalog (list them with: "
                                         "wimcore fleet status)")
            out.extend(h for h in hits if h not in out)
        return out

    def packages_at_import(self, image_id: int) -> list[dict[str, Any]]:
        """The packages an image had when it was registered."""
        return self._rows("SELECT key, kb, kind, release_type, state FROM image_packages "
                          "WHERE image_id=? ORDER BY key", (image_id,))

    def serviced_keys(self, image_id: int) -> set[str]:
        """Identity keys that some run staged or installed into this image."""
        return {r[0] for r in self._db.execute(
            "SELECT DISTINCT key FROM run_packages WHERE image_id=? AND state IN "
            "('staged', 'installed')", (image_id,))}

    def serviced_states(self, image_id: int) -> dict[str, str]:
        """Per identity key that some run staged or installed into this image, what it is
        now by the runs' records: ``installed`` once any run installed it, else ``staged``
        (staged means placed for Windows Setup, not installed)."""
        states: dict[str, str] = {}
        for key, state in self._db.execute(
                "SELECT key, state FROM run_packages WHERE image_id=? AND state IN "
                "('staged', 'installed')", (image_id,)):
            if states.get(key) != "installed":
                states[key] = state
        return states

    # -- updates -----------------------------------------------------------------------------

    def update_file(self, sha256: str) -> dict[str, Any] | None:
        """The library file with this content hash, if imported."""
        rows = self._rows("SELECT * FROM update_files WHERE sha256=?", (sha256,))
        if not rows:
            return None
        rows[0]["verification"] = json.loads(rows[0]["verification"])
        return rows[0]

    def set_file_verification(self, sha256: str, verification: dict[str, Any]) -> None:
        """Replace what the catalog says of a library file's check (checked after import)."""
        with self.transaction() as db:
            db.execute("UPDATE update_files SET verification=? WHERE sha256=?",
                       (json.dumps(verification), sha256))

    def add_update_file(self, file: dict[str, Any], packages: Sequence[dict[str, Any]]) -> int:
        """Record one library file and the packages it holds; recompute supersedence."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO update_files(sha256, sha1, size, name, format, stored_path, "
                "verification, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (file["sha256"], file["sha1"], file["size"], file["name"], file["format"],
                 file["stored_path"], json.dumps(file.get("verification") or {}),
                 file.get("imported_at") or now_iso()))
            file_id = int(cur.lastrowid or 0)
            for p in packages:
                db.execute("INSERT OR IGNORE INTO updates(file_id, key, name, version, arch, kb, "
                           "kind, release_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (file_id, p["key"], p["name"], p["version"], p["arch"], p.get("kb"),
                            p["kind"], p.get("release_type")))
            self._supersedence(db)
        return file_id

    @staticmethod
    def _supersedence(db: sqlite3.Connection) -> None:
        """A package supersedes the older versions of the same name and architecture."""
        rows = db.execute("SELECT id, name, arch, version FROM updates").fetchall()

        def ver(text: str) -> tuple[int, ...]:
            return tuple(int(x) if x.isdigit() else 0 for x in text.split("."))

        db.execute("DELETE FROM supersedes")
        pairs = [(a["id"], b["id"]) for a in rows for b in rows
                 if a["id"] != b["id"] and a["name"].lower() == b["name"].lower()
                 and a["arch"].lower() == b["arch"].lower()
                 and ver(a["version"]) > ver(b["version"])]
        db.executemany("INSERT INTO supersedes(update_id, superseded_id) VALUES (?, ?)", pairs)

    def updates(self) -> list[dict[str, Any]]:
        """Every package of the library with its file, and what supersedes it."""
        rows = self._rows(
            "SELECT u.*, f.sha256, f.sha1, f.size, f.name AS file_name, f.format, f.stored_path, "
            "f.verification FROM updates u JOIN update_files f ON f.id = u.file_id ORDER BY u.id")
        sup = self._db.execute("SELECT s.superseded_id, u.key FROM supersedes s JOIN updates u "
                               "ON u.id = s.update_id").fetchall()
        for r in rows:
            r["verification"] = json.loads(r["verification"])
            r["superseded_by"] = sorted(k for i, k in sup if i == r["id"])
        return rows

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, run_id: str, *, backend: str, scheduler: str | None,
                   options: dict[str, Any], image_ids: Sequence[int],
                   log_path: str | None = None) -> None:
        """Record a new run (in process) with its images queued."""
        started = now_iso()
        with self.transaction() as db:
            db.execute("INSERT INTO runs(id, started, status, backend, scheduler, options, "
                       "client_host, client_pid, log_path) VALUES (?, ?, 'in process', ?, ?, ?, "
                       "?, ?, ?)", (run_id, started, backend, scheduler,
                                    json.dumps(options, sort_keys=True), socket.gethostname(),
                                    os.getpid(), log_path))
            db.executemany("INSERT INTO run_images(run_id, image_id, status) VALUES "
                           "(?, ?, 'queued')", [(run_id, i) for i in image_ids])

    def record_result(self, run_id: str, result: dict[str, Any]) -> None:
        """Record what one image became in a run (one transaction: all of it or nothing)."""
        image_id = int(result["image_id"])
        with self.transaction() as db:
            db.execute(
                "INSERT INTO run_images(run_id, image_id, status) VALUES (?, ?, 'queued') "
                "ON CONFLICT(run_id, image_id) DO NOTHING", (run_id, image_id))
            db.execute(
                "UPDATE run_images SET status=?, started=?, finished=?, worker=?, wim_changed=?, "
                "size_before=?, size_after=?, report_path=?, log_path=?, "
                "error=?, note=? WHERE run_id=? AND image_id=?",
                (result["status"], result.get("started"), result.get("finished"),
                 result.get("worker"), int(bool(result.get("wim_changed"))),
                 result.get("size_before"), result.get("size_after"),
                 result.get("report_path"), result.get("log_path"),
                 result.get("error"), result.get("note"), run_id, image_id))
            db.execute("DELETE FROM run_packages WHERE run_id=? AND image_id=?",
                       (run_id, image_id))
            db.executemany(
                "INSERT INTO run_packages(run_id, image_id, seq, key, kb, kind, state, reason, "
                "verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, image_id, n, p["key"], p.get("kb"), p.get("kind"), p["state"],
                  p.get("reason"), p.get("verdict"))
                 for n, p in enumerate(result.get("packages") or [], start=1)])

    def finish_run(self, run_id: str, status: str, note: str | None = None, *,
                   leftover: tuple[str, str] | None = None) -> None:
        """Close a run with its final state; images without a result get ``leftover``
        (default: ``cancelled`` in a cancelled run, else ``never-started``; their WIMs
        were not touched)."""
        if status not in RUN_STATES:
            raise ValueError(f"unknown run state {status!r}")
        if leftover is None:
            leftover = ((IMAGE_CANCELLED, "cancelled before it started: the WIM was not "
                                          "touched") if status == "cancelled" else
                        (IMAGE_NEVER_STARTED, "never started: the run ended first"
                         + (f" ({note})" if note else "") + "; the WIM was not touched"))
        with self.transaction() as db:
            db.execute("UPDATE run_images SET status=?, note=COALESCE(note, ?) WHERE run_id=? "
                       "AND status IN ('queued', 'in process')", (*leftover, run_id))
            db.execute("UPDATE runs SET status=?, finished=?, note=? WHERE id=?",
                       (status, now_iso(), note, run_id))

    def request_cancel(self, run_id: str) -> dict[str, Any]:
        """Ask a run to stop (its client passes the request on to the workers)."""
        run = self.run(run_id)
        if run["status"] != "in process":
            return run
        with self.transaction() as db:
            db.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (run_id,))
        return self.run(run_id)

    def cancel_requested(self, run_id: str) -> bool:
        """True once ``cancel`` was asked for this run."""
        row = self._db.execute("SELECT cancel_requested FROM runs WHERE id=?",
                               (run_id,)).fetchone()
        return bool(row and row[0])

    def run(self, run_id: str) -> dict[str, Any]:
        """One run with its images (NotRegisteredError when absent)."""
        rows = self._rows("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            raise NotRegisteredError(f"no run {run_id!r} in the catalog {self.path}")
        run = rows[0]
        run["options"] = json.loads(run["options"])
        run["images"] = self._rows(
            "SELECT ri.*, i.name, i.wim_path, i.wim_index FROM run_images ri JOIN images i "
            "ON i.id = ri.image_id WHERE run_id=? ORDER BY image_id", (run_id,))
        return run

    def runs(self) -> list[dict[str, Any]]:
        """Every run, newest first (without their images)."""
        rows = self._rows("SELECT * FROM runs ORDER BY started DESC, id DESC")
        for r in rows:
            r["options"] = json.loads(r["options"])
        return rows

    def run_packages(self, run_id: str, image_id: int) -> list[dict[str, Any]]:
        """What each package became in one image in one run, in order."""
        return self._rows("SELECT key, kb, kind, state, reason, verdict FROM run_packages "
                          "WHERE run_id=? AND image_id=? ORDER BY seq", (run_id, image_id))

    def reconcile(self) -> list[str]:
        """Close runs left 'in process' by a client of this host that no longer exists."""
        host = socket.gethostname()
        gone = [r["id"] for r in self._rows(
            "SELECT id, client_host, client_pid FROM runs WHERE status='in process'")
            if r["client_host"] == host and r["client_pid"] != os.getpid()
            and not pid_alive(int(r["client_pid"]))]
        for run_id in gone:
            recovered = self._recover_records(run_id)
            self.finish_run(run_id, "failed", "the client stopped before the run finished"
                            + (f"; {recovered} result(s) recovered from the task records"
                               if recovered else ""),
                            leftover=("unknown", "no result was recorded (the client stopped): "
                                      "the WIM is unchanged or fully serviced; a new run "
                                      "plans from the image's own records"))
        return gone

    def _recover_records(self, run_id: str) -> int:
        """Record results that tasks wrote (``<outputs>/<image>.json``) but no client did."""
        run = self.run(run_id)
        outputs = run["options"].get("outputs")
        if not outputs:
            return 0
        n = 0
        for img in run["images"]:
            if img["status"] not in ("queued", "in process"):
                continue
            path = Path(outputs) / f"{img['image_id']}.json"
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if record.get("run_id") == run_id and int(record.get("image_id", -1)) == \
                    img["image_id"]:
                record["note"] = "; ".join(x for x in (record.get("note"), "recovered from "
                                                       "the task's record") if x)
                self.record_result(run_id, record)
                n += 1
        return n

    # -- reports -----------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Per image: its latest run's state, and what it has (at import + serviced since)."""
        out = []
        for img in self.images():
            last = self._rows(
                "SELECT ri.run_id, ri.status, ri.finished, ri.error, r.status AS run_status "
                "FROM run_images ri JOIN runs r ON r.id = ri.run_id WHERE ri.image_id=? "
                "ORDER BY r.started DESC, r.id DESC LIMIT 1", (img["id"],))
            states = self.serviced_states(img["id"])
            out.append({"id": img["id"], "name": img["name"], "wim_path": img["wim_path"],
                        "wim_index": img["wim_index"], "edition": img["edition"],
                        "arch": img["arch"], "build": img["build"], "ubr": img["ubr"],
                        "packages_at_import": len(self.packages_at_import(img["id"])),
                        "serviced": sorted(states),
                        "staged": sorted(k for k, v in states.items() if v == "staged"),
                        "installed": sorted(k for k, v in states.items() if v == "installed"),
                        "last_run": last[0] if last else None})
        return out

    def history(self, image_id: int) -> dict[str, Any]:
        """One image: what it had at import and every run since, with each package's fate."""
        img = self.image(image_id)
        runs = self._rows(
            "SELECT ri.*, r.started AS run_started, r.backend, r.status AS run_status "
            "FROM run_images ri JOIN runs r ON r.id = ri.run_id WHERE ri.image_id=? "
            "ORDER BY r.started, r.id", (image_id,))
        for r in runs:
            r["packages"] = self.run_packages(r["run_id"], image_id)
        return {"image": img, "at_import": self.packages_at_import(image_id), "runs": runs}
