#!/usr/bin/env python3
"""Crash test driver (python3 standard library only); `.ci/crash-test` builds and runs it.

Starts `casebridge serve --demo` on a fresh database, drives concurrent caseworker writes
(client PATCHes with If-Match, new case notes) and CSP reads, kills the server with SIGKILL at
a random moment, restarts it on the same database, and repeats. After each kill, and again
once after every cycle, it checks in the database itself that

  * every acknowledged (2xx) write is still there: the note with that body and id exists on
    that case; each client's phone and version are those of the last acknowledged PATCH, or of
    a later PATCH whose answer never arrived (never one that was answered with an error);
  * every X-Request-Id a client received, whatever the status, has exactly one audit row,
    with that status (and, for a write, naming the record it wrote);
  * `casebridge audit verify` passes.

It prints `crash-test: N passed, M failed` (one verdict per cycle) and exits non-zero on any
failure.
"""
import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from contextlib import closing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432"
REQUEST_TIMEOUT = 15


def log(message):
    print(f"crash-test: {message}", flush=True)


def free_port():
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- HTTP


class Http:
    """A tiny client that records every /api/v1 answer it receives."""

    def __init__(self, ledger):
        self.base = None
        self.ledger = ledger

    def call(self, method, path, cycle, token=None, body=None, headers=None):
        """Returns (status, headers, parsed body); raises OSError when no answer arrived."""
        self.ledger.count_sent(cycle)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            response = urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT)
        except urllib.error.HTTPError as error:
            response = error
        except Exception as error:  # refused, reset, RemoteDisconnected, timeout: no answer
            raise OSError(repr(error)) from error
        with closing(response):
            status, answer_headers = response.status, response.headers
            # The headers arrived, so this request id was received, whatever befalls the body.
            if path.startswith("/api/v1"):
                self.ledger.answer(cycle, method, path, status, answer_headers.get("X-Request-Id"))
            try:
                raw = response.read()
            except Exception as error:  # truncated: the answer is unknown to the caller
                raise OSError(repr(error)) from error
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        if status >= 300 and path.startswith("/api/v1"):
            code = parsed.get("code") if isinstance(parsed, dict) else None
            self.ledger.problem(cycle, f"{method} {path} -> unexpected {status} {code} "
                                       f"(X-Request-Id {answer_headers.get('X-Request-Id')})")
        return status, answer_headers, parsed


class Ledger:
    """What clients were told, shared by all threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers = []  # (cycle, method, path, status, request_id)
        self.notes = []  # (cycle, request_id, note_id, case_id, body)
        self.patches = defaultdict(list)  # client_id -> [(cycle, outcome, phone, version, request_id)]
        self.problems = defaultdict(list)  # cycle -> [text]
        self.sent = Counter()  # cycle -> requests sent

    def count_sent(self, cycle):
        with self.lock:
            self.sent[cycle] += 1

    def answer(self, cycle, method, path, status, request_id):
        with self.lock:
            self.answers.append((cycle, method, path, status, request_id))
            if not request_id:
                self.problems[cycle].append(f"{method} {path} -> {status} carried no X-Request-Id")

    def note(self, cycle, request_id, note_id, case_id, body):
        with self.lock:
            self.notes.append((cycle, request_id, note_id, case_id, body))

    def patch(self, client_id, cycle, outcome, phone, version, request_id):
        with self.lock:
            self.patches[client_id].append((cycle, outcome, phone, version, request_id))

    def problem(self, cycle, text):
        with self.lock:
            self.problems[cycle].append(text)


# --------------------------------------------------------------------------- databases


class SqliteDb:
    def __init__(self, data_dir):
        self.path = os.path.join(data_dir, "casebridge.db")
        self.env = {}

    def query(self, sql, params=()):
        # Opened in place: the -wal and -shm files stay with the database.
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            return [tuple("" if v is None else str(v) for v in row) for row in conn.execute(sql, params)]

    def create(self):
        pass

    def drop(self):
        pass

    def describe(self):
        return f"SQLite {self.path}"


class PostgresDb:
    def __init__(self, name):
        self.name = name
        self.url = f"{PG_ADMIN}/{name}"
        self.env = {"DATABASE_URL": self.url}

    def query(self, sql, params=()):
        for param in params:  # inlined as literals; only our own ids and prefixes are passed
            assert "'" not in str(param) and "\\" not in str(param)
            sql = sql.replace("?", f"'{param}'", 1)
        out = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\x1f", "-d", self.url, "-c", sql],
            check=True, capture_output=True, text=True)
        return [tuple(line.split("\x1f")) for line in out.stdout.splitlines()]

    def create(self):
        subprocess.run(["createdb", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", self.name],
                       check=True)

    def drop(self):
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "--if-exists",
                        self.name], check=False)

    def describe(self):
        return f"PostgreSQL {self.url}"


# --------------------------------------------------------------------------- the server


class Server:
    def __init__(self, binary, data_dir, log_dir, db, password):
        self.binary, self.data_dir, self.db, self.password = binary, data_dir, db, password
        self.log_dir = log_dir
        self.process = None
        self.port = None
        self.starts = 0

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASEBRIDGE_")}
        env.pop("DATABASE_URL", None)
        env.update(self.db.env)
        env.update({
            "CASEBRIDGE_DATA_DIR": self.data_dir,
            "CASEBRIDGE_DEMO_PASSWORD": self.password,
            "CASEBRIDGE_POLICY_DIR": os.path.join(ROOT, "policies"),
            "CASEBRIDGE_LOG": "warn",
        })
        # The allowance for requests without credentials stays at its default (2 a second, 60
        # at once, per address): the only such requests here are the two logins after each
        # start, and a restarted server starts with a full allowance. It must never be met:
        # a refusal counted without a row of its own carries no X-Request-Id, which the
        # ledger reports as a problem.
        return env

    def start(self, timeout=90):
        """Starts the server on a free port and waits for /ready; returns the base URL."""
        for _attempt in range(3):
            self.starts += 1
            self.port = free_port()
            logfile = open(os.path.join(self.log_dir, f"serve-{self.starts:03d}.log"), "wb")
            # Its own session and process group: the SIGKILL reaches the server and only it.
            self.process = subprocess.Popen(
                [self.binary, "serve", "--demo", "--bind", f"127.0.0.1:{self.port}"],
                cwd=ROOT, env=self.env(), stdin=subprocess.DEVNULL, stdout=logfile,
                stderr=subprocess.STDOUT, start_new_session=True)
            logfile.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=2) as r:
                        if r.status == 200:
                            return f"http://127.0.0.1:{self.port}"
                except (urllib.error.URLError, OSError):
                    pass
                time.sleep(0.05)
            self.kill()
        raise RuntimeError(f"the server did not become ready (see {self.log_dir}/serve-*.log)")

    def kill(self, sig=signal.SIGKILL):
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def verify(self):
        out = subprocess.run([self.binary, "audit", "verify"], cwd=ROOT, env=self.env(),
                             capture_output=True, text=True)
        return out.returncode, (out.stdout + out.stderr).strip()


# --------------------------------------------------------------------------- load


class Load:
    def __init__(self, http, ledger, run_id, fixtures, args):
        self.http, self.ledger, self.run_id, self.fixtures, self.args = http, ledger, run_id, fixtures, args
        self.counter = Counter()
        self.counter_lock = threading.Lock()

    def unique(self, kind):
        with self.counter_lock:
            self.counter[kind] += 1
            return self.counter[kind]

    def patcher(self, cycle, token, clients, stop, rng):
        etags = {}
        while not stop.is_set():
            client_id = rng.choice(clients)
            try:
                if client_id not in etags:
                    status, headers, _ = self.http.call("GET", f"/api/v1/clients/{client_id}", cycle, token)
                    if status != 200:
                        continue
                    etags[client_id] = headers.get("ETag")
                n = self.unique("phone")
                phone = f"04{n:08d}"
                # The attempt is written down before it is sent: its outcome may never arrive.
                self.ledger.patch(client_id, cycle, "sent", phone, None, None)
                status, headers, body = self.http.call(
                    "PATCH", f"/api/v1/clients/{client_id}", cycle, token, {"phone": phone},
                    {"If-Match": etags[client_id]})
                rid = headers.get("X-Request-Id")
                if 200 <= status < 300:
                    etag = headers.get("ETag")
                    version = int(etag.strip('W/"')) if etag else None
                    self.ledger.patch(client_id, cycle, "acked", phone, version, rid)
                    if not body or body.get("phone") != phone or body.get("version") != version:
                        self.ledger.problem(cycle, f"PATCH {client_id} answered {body} with ETag {etag} for phone {phone}")
                    etags[client_id] = etag
                else:
                    self.ledger.patch(client_id, cycle, "refused", phone, None, rid)
                    etags.pop(client_id, None)
            except OSError:
                etags.pop(client_id, None)
                time.sleep(0.01)

    def noter(self, cycle, token, cases, stop, rng):
        while not stop.is_set():
            case_id = rng.choice(cases)
            body_text = f"crash-test {self.run_id} cycle {cycle} note {self.unique('note')}"
            try:
                status, headers, body = self.http.call(
                    "POST", f"/api/v1/cases/{case_id}/notes", cycle, token,
                    {"note_type": "contact", "body": body_text})
                if 200 <= status < 300:
                    note_id = body.get("id") if isinstance(body, dict) else None
                    self.ledger.note(cycle, headers.get("X-Request-Id"), note_id, case_id, body_text)
                    if not body or body.get("body") != body_text or body.get("case_id") != case_id:
                        self.ledger.problem(cycle, f"POST note answered {body} for {body_text!r}")
            except OSError:
                time.sleep(0.01)

    def reader(self, cycle, token, clients, stop, rng):
        while not stop.is_set():
            try:
                self.http.call("GET", f"/api/v1/clients/{rng.choice(clients)}", cycle, token)
            except OSError:
                time.sleep(0.01)

    def run(self, cycle, tokens, kill_after, rng, kill):
        """Runs the threads, kills the server `kill_after` seconds in, then stops them."""
        stop = threading.Event()
        f, a = self.fixtures, self.args
        # Each client has one patcher, so its PATCHes are sequential and never race on If-Match.
        patchers = min(a.patchers, len(f["patch_clients"]))
        owned = [f["patch_clients"][i::patchers] for i in range(patchers)]
        jobs = [(self.patcher, tokens["caseworker"], owned[i]) for i in range(patchers)]
        jobs += [(self.noter, tokens["caseworker"], f["cases"])] * a.noters
        jobs += [(self.reader, tokens["csp-north"], f["csp_clients"])] * a.readers

        def guarded(target, *job_args):
            try:
                target(*job_args)
            except Exception as error:  # noqa: BLE001 - a crashed client thread fails the cycle
                self.ledger.problem(cycle, f"client thread {target.__name__} crashed: {error!r}")

        threads = [threading.Thread(target=guarded, daemon=True, args=(
            target, cycle, token, targets, stop, random.Random(rng.random())))
            for target, token, targets in jobs]
        for thread in threads:
            thread.start()
        time.sleep(kill_after)
        # No new requests from here on; those in flight meet the SIGKILL.
        stop.set()
        kill()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
            if thread.is_alive():
                raise RuntimeError("a client thread did not stop")


def login(http, cycle, username, password):
    status, _, body = http.call("POST", "/api/v1/auth/login", cycle,
                                body={"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"login {username} -> {status} {body}")
    return body["access_token"]


def fixtures_of(http, tokens):
    """The caseworker's unrestricted clients and their open cases; csp-north's clients."""
    _, _, page = http.call("GET", "/api/v1/clients?limit=200", 0, tokens["caseworker"])
    clients = [c["id"] for c in page["items"] if not c.get("restricted")]
    _, _, page = http.call("GET", "/api/v1/cases?limit=200", 0, tokens["caseworker"])
    cases = [c["id"] for c in page["items"] if c.get("status") == "open" and c["client_id"] in clients]
    _, _, page = http.call("GET", "/api/v1/clients?limit=200", 0, tokens["csp-north"])
    csp_clients = [c["id"] for c in page["items"]]
    if len(clients) < 4 or not cases or not csp_clients:
        raise RuntimeError(f"unexpected demo data: {len(clients)} clients, {len(cases)} cases, "
                           f"{len(csp_clients)} csp-north clients")
    initial = {}
    for client_id in clients:
        status, headers, body = http.call("GET", f"/api/v1/clients/{client_id}", 0, tokens["caseworker"])
        initial[client_id] = (body.get("phone") or "", body["version"])
    return {"patch_clients": clients[:12], "cases": cases, "csp_clients": csp_clients, "initial": initial}


# --------------------------------------------------------------------------- checks


def check(db, server, ledger, fixtures, run_id, cycles, chain_cycle, blame=None):
    """Checks what clients were told in `cycles` against the database. Returns
    ({cycle: [problems]}, rows checked, the output of `audit verify`). A problem is charged to
    `blame` when given (the cycle just killed), else to the cycle of the answer concerned."""
    problems = defaultdict(list)
    rows = 0
    wanted = set(cycles)

    # Notes: every acknowledged note is there, on its case, with its id.
    stored = {body: (note_id, case_id) for note_id, case_id, body in db.query(
        "SELECT id, case_id, body FROM notes WHERE body LIKE ?", (f"crash-test {run_id} %",))}
    for cycle, rid, note_id, case_id, body in ledger.notes:
        if cycle not in wanted:
            continue
        rows += 1
        found = stored.get(body)
        if found is None:
            problems[blame or cycle].append(
                f"acknowledged note lost: {body!r} (id {note_id}, X-Request-Id {rid})")
        elif found != (note_id, case_id):
            problems[blame or cycle].append(
                f"note {body!r} stored as {found}, acknowledged as {(note_id, case_id)}")

    # Client phones: each is the last acknowledged PATCH's (phone and version), or that of a
    # later PATCH whose answer never arrived; never one answered with an error.
    current = {cid: (phone, int(version)) for cid, phone, version in db.query(
        "SELECT id, COALESCE(phone, ''), version FROM clients")}
    for client_id, (phone0, version0) in fixtures["initial"].items():
        history = ledger.patches.get(client_id, [])
        last = (phone0, version0, 0)
        pending = []  # phones sent after `last` whose answer never arrived
        for index, (cycle, outcome, phone, version, _rid) in enumerate(history):
            if outcome == "acked":
                last, pending = (phone, version, cycle), []
            elif outcome == "sent" and not any(
                    h[1] != "sent" and h[2] == phone for h in history[index + 1:]):
                pending.append(phone)
        rows += 1
        phone, version = current[client_id]
        if version == last[1] and phone == last[0]:
            continue
        if version > last[1] and phone in pending and version - last[1] <= len(pending):
            continue
        problems[blame or last[2]].append(
            f"client {client_id}: stored phone {phone!r} version {version}, but the last "
            f"acknowledged PATCH set {last[0]!r} version {last[1]} (cycle {last[2]}; sent since "
            f"without an answer: {pending})")

    # Audit: exactly one row per request id a client received, with its status, and a write's
    # row names what it wrote.
    audit = defaultdict(list)
    for rid, status, chain_id, resource_id in db.query(
            "SELECT request_id, status, chain_id, COALESCE(resource_id, '') FROM audit_events"):
        audit[rid].append((int(status), chain_id, resource_id))
    written = {rid: note_id for _, rid, note_id, _, _ in ledger.notes}
    written.update({h[4]: cid for cid, history in ledger.patches.items() for h in history
                    if h[1] == "acked"})
    for cycle, method, path, status, rid in ledger.answers:
        if cycle not in wanted or not rid:
            continue
        rows += 1
        found = audit.get(rid, [])
        if len(found) != 1:
            problems[blame or cycle].append(
                f"{method} {path} -> {status}: {len(found)} audit rows for X-Request-Id {rid}")
            continue
        row_status, chain_id, resource_id = found[0]
        chain_cycle.setdefault(chain_id, cycle)
        if row_status != status:
            problems[blame or cycle].append(
                f"{method} {path}: answered {status}, audited {row_status} (X-Request-Id {rid})")
        if rid in written and resource_id != written[rid]:
            problems[blame or cycle].append(
                f"{method} {path}: audit row names {resource_id!r}, the write was {written[rid]!r}")

    # The chains.
    code, output = server.verify()
    if code != 0:
        # Charged to the cycle whose chain it names when known: a break found once is found
        # again by every later check.
        named = [c for chain, c in chain_cycle.items() if chain in output]
        problems[named[0] if named else (blame or max(cycles))].append(
            f"casebridge audit verify failed: {output}")
    return problems, rows, output


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true", help="use a fresh PostgreSQL database")
    parser.add_argument("--cycles", type=int, default=int(os.environ.get("CRASH_TEST_CYCLES", "20")))
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "debug", "casebridge"))
    parser.add_argument("--patchers", type=int, default=2)
    parser.add_argument("--noters", type=int, default=2)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--min-kill", type=float, default=0.2)
    parser.add_argument("--max-kill", type=float, default=1.5)
    parser.add_argument("--keep", action="store_true", help="keep the data directory and database")
    args = parser.parse_args()
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    rng = random.Random(seed)
    run_id = secrets.token_hex(4)
    began = time.monotonic()

    work = tempfile.mkdtemp(prefix="casebridge-crash-")
    data_dir = os.path.join(work, "data")
    # The binary is linked (or copied) aside, so a concurrent `cargo build` cannot swap it mid-run.
    binary = os.path.join(work, "casebridge")
    try:
        os.link(args.binary, binary)
    except OSError:
        shutil.copy2(args.binary, binary)
    db = PostgresDb(f"casebridge_crash_{run_id}") if args.postgres else SqliteDb(data_dir)
    if args.postgres:
        db.create()
    password = secrets.token_urlsafe(18)
    server = Server(binary, data_dir, work, db, password)
    ledger = Ledger()
    http = Http(ledger)
    log(f"{args.cycles} cycles on {db.describe()}, seed {seed}, run {run_id}, work dir {work}")

    failed = set()
    seen = defaultdict(set)
    chain_cycle = {}
    rows_checked = 0

    def report(cycle, texts, label):
        """Logs the problems not reported yet and fails their cycle (setup counts as cycle 1)."""
        new = [t for t in texts if t not in seen[cycle]]
        seen[cycle].update(new)
        for text in new[:20]:
            log(f"  {label}: {text}")
        if len(new) > 20:
            log(f"  {label}: ... and {len(new) - 20} more")
        if new:
            failed.add(min(max(cycle, 1), args.cycles))
        return new

    try:
        http.base = server.start()
        tokens = {u: login(http, 0, u, password) for u in ("caseworker", "csp-north")}
        fixtures = fixtures_of(http, tokens)
        load = Load(http, ledger, run_id, fixtures, args)
        server.kill()
        for cycle in range(1, args.cycles + 1):
            before, kill_after = len(ledger.answers), 0.0
            try:
                http.base = server.start()
                tokens = {u: login(http, cycle, u, password) for u in ("caseworker", "csp-north")}
                kill_after = rng.uniform(args.min_kill, args.max_kill)
                load.run(cycle, tokens, kill_after, rng, server.kill)
            except Exception as error:  # noqa: BLE001 - a cycle that cannot run fails
                server.kill()
                ledger.problem(cycle, f"cycle did not run: {error!r}")
            # The database at rest, right after the kill.
            problems, rows, _ = check(db, server, ledger, fixtures, run_id, [cycle], chain_cycle,
                                      blame=cycle)
            rows_checked += rows
            answers = ledger.answers[before:]
            acked = sum(1 for a in answers if 200 <= a[3] < 300 and "/auth/" not in a[2])
            acked_writes = sum(1 for a in answers if a[1] in ("PATCH", "POST")
                               and 200 <= a[3] < 300 and "/auth/" not in a[2])
            texts = ledger.problems.get(cycle, []) + problems.pop(cycle, [])
            log(f"cycle {cycle}: killed {kill_after:.2f}s into the load; {ledger.sent[cycle]} "
                f"requests, {len(answers)} answered, {acked} acknowledged ({acked_writes} writes): "
                + ("ok" if not texts else f"FAILED, {len(texts)} problem(s)"))
            report(cycle, texts, f"cycle {cycle}")
            for earlier, texts in problems.items():  # a chain of an earlier cycle
                report(earlier, texts, f"cycle {earlier} (found after cycle {cycle})")

        # Once more after the last kill: the service comes back; then everything is re-checked.
        try:
            http.base = server.start()
            login(http, args.cycles, "caseworker", password)
            server.kill(signal.SIGTERM)
        except Exception as error:  # noqa: BLE001
            server.kill()
            ledger.problem(args.cycles, f"the service did not come back after the last kill: {error!r}")
        problems, rows, verify_output = check(db, server, ledger, fixtures, run_id,
                                              range(0, args.cycles + 1), chain_cycle)
        rows_checked += rows
        for cycle in range(0, args.cycles + 1):
            report(cycle, ledger.problems.get(cycle, []) + problems.get(cycle, []),
                   "setup" if cycle == 0 else f"final check, cycle {cycle}")
        notes = len(ledger.notes)
        patches = sum(1 for h in ledger.patches.values() for e in h if e[1] == "acked")
        reads = sum(1 for a in ledger.answers if a[1] == "GET" and 200 <= a[3] < 300)
        if notes + patches == 0:
            log("no write was acknowledged in the whole run: the test proved nothing")
            failed = set(range(1, args.cycles + 1))
        log(f"{sum(ledger.sent.values())} requests, {len(ledger.answers)} answered; acknowledged {notes} notes, "
            f"{patches} client PATCHes and {reads} reads; {rows_checked} checks against the "
            f"database; {verify_output}; {time.monotonic() - began:.0f}s")
    except Exception as error:  # noqa: BLE001 - setup failed: no cycle passed
        log(f"error: {error!r}")
        failed = set(range(1, args.cycles + 1))
    finally:
        server.kill()
        if failed or args.keep:
            log(f"kept {work}" + (f" and database {db.name}" if args.postgres else ""))
        else:
            db.drop()
            shutil.rmtree(work, ignore_errors=True)
    print(f"crash-test: {args.cycles - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
