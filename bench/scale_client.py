#!/usr/bin/env python3
"""The measuring half of bench/scale.sh: sequential requests over one keep-alive connection
per account, p50 and p99 per scenario, printed as a markdown table.

Usage: scale_client.py BASE_URL DATABASE_URL   (password in CASEBRIDGE_DEMO_PASSWORD)

Settings (environment): REQUESTS (100) requests per scenario; MAX_SECONDS (120) a scenario
stops after this long even if it has fewer (the row then says how many it has: a slow
endpoint at a million clients would otherwise take hours); READS (10000) clients one account
reads before its breach is assessed; BUNDLE_NOTES (500).
"""
import http.client
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import date, datetime, timedelta, timezone

BASE, DATABASE_URL = sys.argv[1], sys.argv[2]
PASSWORD = os.environ["CASEBRIDGE_DEMO_PASSWORD"]
REQUESTS = int(os.environ.get("REQUESTS", "100"))
MAX_SECONDS = float(os.environ.get("MAX_SECONDS", "120"))
READS = int(os.environ.get("READS", "10000"))
BUNDLE_NOTES = int(os.environ.get("BUNDLE_NOTES", "500"))
NOTICE_VERSION = "2026-1"  # casebridge::demo::NOTICE_VERSION
# Fresh names each run: a reused database holds the previous runs' clients.
rng = random.Random()
rows = []


def query(sql):
    """Rows of `sql` on the benchmark database (read-only; the server keeps running)."""
    if DATABASE_URL.startswith("postgres"):
        out = subprocess.run(["psql", DATABASE_URL.split("?")[0], "-AtF", "\t", "-c", sql],
                             check=True, capture_output=True, text=True).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]
    with sqlite3.connect(f"file:{DATABASE_URL}?mode=ro", uri=True) as conn:
        return [tuple(str(v) for v in row) for row in conn.execute(sql)]


class Account:
    """One demo account on its own keep-alive connection; logs in again when its token
    expires (a run at a million clients outlasts the 15-minute token)."""

    def __init__(self, username):
        self.username = username
        url = urllib.parse.urlparse(BASE)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        self.token = None
        self.login()

    def login(self):
        status, body = self.raw("POST", "/api/v1/auth/login",
                                {"username": self.username, "password": PASSWORD}, auth=False)
        assert status == 200, (self.username, status, body)
        self.token = body["access_token"]

    def raw(self, method, path, body=None, auth=True, headers=None):
        all_headers = {"content-type": "application/json"} | (headers or {})
        if auth:
            all_headers["authorization"] = f"Bearer {self.token}"
        payload = json.dumps(body) if body is not None else None
        for attempt in range(2):
            try:
                self.conn.request(method, path, payload, all_headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise
        parsed = json.loads(data) if data and data[:1] in b"[{" else data
        return response.status, parsed

    def call(self, method, path, body=None, headers=None):
        status, parsed = self.raw(method, path, body, headers=headers)
        if status == 401:
            self.login()
            status, parsed = self.raw(method, path, body, headers=headers)
        return status, parsed

    def ok(self, method, path, body=None, headers=None):
        status, parsed = self.call(method, path, body, headers)
        assert status < 300, (method, path, status, parsed)
        return parsed


def measure(name, account, method, path, body=None, expect=(200, 201), requests=None):
    """`path` and `body` may be functions of the request's number."""
    times, failures, started = [], 0, time.monotonic()
    for i in range(requests or REQUESTS):
        p = path(i) if callable(path) else path
        b = body(i) if callable(body) else body
        t = time.perf_counter()
        status, parsed = account.call(method, p, b)
        times.append((time.perf_counter() - t) * 1000)
        if status not in expect:
            failures += 1
            if failures == 1:
                print(f"  {name}: {status} {str(parsed)[:200]}", file=sys.stderr)
        if time.monotonic() - started > MAX_SECONDS:
            break
    record(name, times, failures)
    return times


def record(name, times, failures=0, note=""):
    times = sorted(times)
    p = lambda q: times[min(len(times) - 1, int(round(q * (len(times) - 1))))]
    rows.append((name, len(times), p(0.5), p(0.99), failures, note))
    print(f"  {name}: n={len(times)} p50={p(0.5):.1f} ms p99={p(0.99):.1f} ms"
          f"{' failures=' + str(failures) if failures else ''}", file=sys.stderr, flush=True)


def quoted(**params):
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def new_client(i):
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    return {
        "given_name": "Bench", "family_name": f"Scale{letters.capitalize()}",
        "date_of_birth": str(date(1960, 1, 1) + timedelta(days=rng.randrange(20000))),
        "collection_notice": {"version": NOTICE_VERSION, "given_on": str(date.today()),
                              "method": "verbal"},
    }


def note(i):
    return {"note_type": "contact", "body": f"Benchmark note {i}: phone call with the client."}


def rfc3339(at):
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    # --- what the database holds (picked by SQL, read-only) ---
    divisions = dict(query("SELECT name, id FROM organisations"))
    housing = divisions["Housing Support"]
    common = query("""SELECT c.given_name, c.family_name, c.date_of_birth FROM clients c
        JOIN (SELECT family_name FROM clients GROUP BY family_name ORDER BY count(*) DESC LIMIT 1) f
        ON f.family_name = c.family_name ORDER BY c.id LIMIT 1""")[0]
    rare = query("""SELECT c.given_name, c.family_name, c.date_of_birth FROM clients c
        JOIN (SELECT family_name FROM clients GROUP BY family_name HAVING count(*) = 1 LIMIT 1) f
        ON f.family_name = c.family_name""")[0]
    total_clients = int(query("SELECT count(*) FROM clients")[0][0])
    total_cases = int(query("SELECT count(*) FROM cases")[0][0])
    deep_client = query(f"SELECT id FROM clients ORDER BY id LIMIT 1 OFFSET {total_clients // 2}")[0][0]
    deep_case = query(f"SELECT id FROM cases ORDER BY id LIMIT 1 OFFSET {total_cases // 2}")[0][0]
    housing_case = query(f"""SELECT cases.id FROM cases JOIN clients ON clients.id = cases.client_id
        WHERE cases.division_id = '{housing}' AND cases.status = 'open' AND clients.restricted = FALSE
        AND clients.protective_marking < 2 AND cases.protective_marking < 2
        ORDER BY cases.id DESC LIMIT 1""")[0][0]
    housing_client = query(f"""SELECT client_id FROM cases WHERE id = '{housing_case}'""")[0][0]
    north = divisions["Northside Community Care"]
    north_client = query(f"""SELECT cases.client_id FROM allocations
        JOIN cases ON cases.id = allocations.case_id JOIN clients ON clients.id = cases.client_id
        WHERE allocations.organisation_id = '{north}' AND allocations.ends_on IS NULL
        AND clients.restricted = FALSE AND clients.protective_marking < 2
        AND cases.archived_at IS NULL ORDER BY allocations.id DESC LIMIT 1""")[0][0]
    print(f"database: {total_clients} clients, {total_cases} cases", file=sys.stderr)

    searcher, caseworker, teamleader, csp_north, auditor, privacy, records = (
        Account(u) for u in
        ("searcher", "caseworker", "teamleader", "csp-north", "auditor", "privacy", "records"))

    # --- profile search ---
    for label, (given, family, born) in (("common", common), ("rare", rare)):
        measure(f"profile search, {label} name ({family})", searcher, "GET",
                "/api/v1/profiles?" + quoted(given_name=given, family_name=family))
        measure(f"profile search, {label} name and date of birth", searcher, "GET",
                "/api/v1/profiles?" + quoted(given_name=given, family_name=family,
                                             date_of_birth=born))

    # --- writes ---
    measure("client create (caseworker)", caseworker, "POST", "/api/v1/clients", new_client)
    measure("note create (caseworker)", caseworker, "POST",
            f"/api/v1/cases/{housing_case}/notes", note)

    # --- lists: first page, a page halfway through the ids, each filter ---
    for account in (caseworker, teamleader, csp_north):
        for resource, deep in (("clients", deep_client), ("cases", deep_case)):
            measure(f"GET /{resource} first page ({account.username})", account, "GET",
                    f"/api/v1/{resource}?limit=50")
            measure(f"GET /{resource} deep page ({account.username})", account, "GET",
                    f"/api/v1/{resource}?limit=50&cursor={deep}")
    given, family, born = common
    for label, params in (("family_name", {"family_name": family}),
                          ("given_name", {"given_name": given}),
                          ("date_of_birth", {"date_of_birth": born}),
                          ("family_name + date_of_birth", {"family_name": family,
                                                           "date_of_birth": born})):
        measure(f"GET /clients?{label} (caseworker)", caseworker, "GET",
                "/api/v1/clients?limit=50&" + quoted(**params))
    measure("GET /clients/{id}/cases (caseworker)", caseworker, "GET",
            f"/api/v1/clients/{housing_client}/cases?limit=50")
    measure("GET /cases?status=open (caseworker)", caseworker, "GET",
            "/api/v1/cases?limit=50&status=open")
    measure("GET /cases?status=closed (csp-north)", csp_north, "GET",
            "/api/v1/cases?limit=50&status=closed")
    measure("GET /clients/{id} (csp-north, one connection)", csp_north, "GET",
            f"/api/v1/clients/{north_client}")

    # --- audit trail ---
    busy_client = query("""SELECT client_id FROM audit_event_clients GROUP BY client_id
        ORDER BY count(*) DESC LIMIT 1""")
    if busy_client:
        measure("access log of the busiest client, first page", auditor, "GET",
                f"/api/v1/clients/{busy_client[0][0]}/access-log?limit=50")
    busy_actor = query("""SELECT actor_user_id FROM audit_events WHERE actor_user_id IS NOT NULL
        GROUP BY actor_user_id ORDER BY count(*) DESC LIMIT 1""")[0][0]
    now = datetime.now(timezone.utc)
    measure("one user's month of audit events, first page", auditor, "GET",
            "/api/v1/audit/events?" + quoted(actor_user_id=busy_actor, limit=50,
                                             **{"from": rfc3339(now - timedelta(days=45)),
                                                "to": rfc3339(now - timedelta(days=15))}))
    measure("outdated collection notices report, first page", caseworker, "GET",
            "/api/v1/reports/collection-notices-outdated?limit=50")

    # --- the access-request bundle of a client with 500 notes ---
    client = caseworker.ok("POST", "/api/v1/clients", new_client(0))
    case = caseworker.ok("POST", "/api/v1/cases", {
        "client_id": client["id"], "service_type": "tenancy support",
        "summary": "Benchmark case with many notes", "risk_level": "low"})
    for i in range(BUNDLE_NOTES):
        caseworker.ok("POST", f"/api/v1/cases/{case['id']}/notes", note(i))
    request = privacy.ok("POST", "/api/v1/access-requests", {
        "client_id": client["id"], "received_on": str(date.today()),
        "requester": "The client", "identity_verified": True})
    measure(f"access-request bundle ({BUNDLE_NOTES} notes)", privacy, "GET",
            f"/api/v1/access-requests/{request['id']}/bundle")

    # --- a breach: an account that read READS clients ---
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    readable = query(f"""SELECT id FROM clients WHERE lead_division_id = '{housing}'
        AND restricted = FALSE AND protective_marking < 2 ORDER BY id DESC LIMIT {READS}""")
    read_started = time.monotonic()
    for (client_id,) in readable:
        caseworker.call("GET", f"/api/v1/clients/{client_id}")
    print(f"  caseworker read {len(readable)} clients in {time.monotonic() - read_started:.0f} s",
          file=sys.stderr)
    caseworker_id = query("SELECT id FROM users WHERE username = 'caseworker' AND status = 'active'")[0][0]
    breach = privacy.ok("POST", "/api/v1/breaches", {
        "aware_at": rfc3339(datetime.now(timezone.utc)), "reported_by": "Team leader",
        "source": "internal", "description": "A caseworker's account read many files.",
        "kinds": ["access"], "suspected_actor_ids": [caseworker_id],
        "window_from": rfc3339(started),
        "window_to": rfc3339(datetime.now(timezone.utc) + timedelta(minutes=1))})
    measure(f"breach affected individuals ({len(readable)} clients read)", privacy, "GET",
            f"/api/v1/breaches/{breach['id']}/affected")

    # --- retention dry run (schedules for every service type first) ---
    for service in ("tenancy support", "homelessness prevention", "crisis accommodation",
                    "private rental assistance", "social housing application", "family support",
                    "parenting program", "child safety planning", "family violence support",
                    "financial counselling"):
        records.call("POST", "/api/v1/retention-schedules", {
            "service_type": service, "archive_after_years": 2, "dispose_after_years": 7})
    measure("retention dry run", records, "POST", "/api/v1/retention/runs", {"dry_run": True},
            requests=min(REQUESTS, 10))

    # --- a note's latency while clients are being created ---
    stop = threading.Event()
    creator = Account("teamleader")
    created = []

    def create_clients():
        while not stop.is_set():
            t = time.perf_counter()
            creator.call("POST", "/api/v1/clients", new_client(0))
            created.append((time.perf_counter() - t) * 1000)

    thread = threading.Thread(target=create_clients)
    thread.start()
    measure("note create while clients are created", caseworker, "POST",
            f"/api/v1/cases/{housing_case}/notes", note)
    stop.set()
    thread.join()
    record("client create, concurrent with the notes above", created)

    print("| scenario | n | p50 ms | p99 ms | failures |")
    print("|---|---:|---:|---:|---:|")
    for name, n, p50, p99, failures, _ in rows:
        flag = "" if n >= REQUESTS or "retention" in name else " (stopped at MAX_SECONDS)"
        print(f"| {name}{flag} | {n} | {p50:.1f} | {p99:.1f} | {failures} |")


if __name__ == "__main__":
    main()
