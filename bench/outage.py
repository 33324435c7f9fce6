#!/usr/bin/env python3
"""PostgreSQL outage benchmark (issue 18): how fast requests are answered 503 when the
database goes away or stalls, how fast the service recovers, and whether clients that retry
make duplicates, with and without an Idempotency-Key.

    python3 bench/outage.py [--binary target/debug/casebridge] [--outage 10] [--clients 8]

The service reaches PostgreSQL through a TCP proxy in this script, which can pass traffic,
drop every connection and refuse new ones ("down"), or stop forwarding while keeping
connections open ("stall"). For each mode and each retry style, the script creates a fresh
database, starts `casebridge serve --demo` on it, runs CLIENTS writers that add case notes for
OUTAGE seconds of normal service, OUTAGE seconds of outage and OUTAGE seconds after, and
prints:
  - answered in outage: p50 / p99 / max seconds to answer a request sent during the outage,
    and the statuses;
  - time to 503: from the outage's start to the first 503;
  - time to recover: from the outage's end to the first 201;
  - duplicates: notes stored more than once for one intended note, and intended notes that a
    client saw created (201) but that are missing.
Each writer gives up on an answer after 5 s (as the fault-injection review's client did) and
retries the same note until it gets 201; with --no-keys it retries without a key (A), else
with the same Idempotency-Key (B). Python's standard library only; PostgreSQL on PG_URL
(default postgres://postgres@127.0.0.1:5432).
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

PG_HOST, PG_PORT = "127.0.0.1", 5432
PASSWORD = "outage-bench-password-1"


class Proxy:
    """A TCP proxy to PostgreSQL whose mode can change: pass, down or stall."""

    def __init__(self):
        self.mode = "pass"
        self.lock = threading.Lock()
        self.pairs = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode):
        with self.lock:
            self.mode = mode
            if mode == "down":
                for pair in self.pairs:
                    for sock in pair:
                        try:
                            sock.shutdown(socket.SHUT_RDWR)
                            sock.close()
                        except OSError:
                            pass
                self.pairs = []

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            with self.lock:
                mode = self.mode
            if mode == "down":
                client.close()
                continue
            try:
                upstream = socket.create_connection((PG_HOST, PG_PORT))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source, target):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                while True:
                    with self.lock:
                        mode = self.mode
                    if mode != "stall":
                        break
                    time.sleep(0.01)
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.close()
            except OSError:
                pass


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def request(port, method, path, body=None, token=None, headers=None, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, all_headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)
    finally:
        conn.close()


def run_one(args, mode, keys):
    base = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432")
    name = f"casebridge_outage_{os.getpid()}_{mode}_{'keys' if keys else 'nokeys'}"
    psql(f"{base}/postgres", f"DROP DATABASE IF EXISTS {name}")
    psql(f"{base}/postgres", f"CREATE DATABASE {name}")
    proxy = Proxy()
    port = args.port
    data_dir = f"/tmp/{name}"
    subprocess.run(["rm", "-rf", data_dir], check=True)
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{proxy.port}/{name}",
           "CASEBRIDGE_DATA_DIR": data_dir, "CASEBRIDGE_DEMO_PASSWORD": PASSWORD,
           "CASEBRIDGE_LOG": "error"}
    server = subprocess.Popen([args.binary, "serve", "--demo", "--bind", f"127.0.0.1:{port}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if request(port, "GET", "/ready", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the server did not become ready")
        status, body = request(port, "POST", "/api/v1/auth/login",
                               {"username": "caseworker", "password": PASSWORD})
        token = body["access_token"]
        _, cases = request(port, "GET", "/api/v1/cases?limit=50", token=token)
        note_path = None
        for case in cases["items"]:
            path = f"/api/v1/cases/{case['id']}/notes"
            if request(port, "POST", path, {"note_type": "contact", "body": "probe"},
                       token=token)[0] == 201:
                note_path = path
                break
        assert note_path, "no case the caseworker may write to"

        events = []  # (sent, answered, status)
        intended = []  # (marker, final status)
        stop = threading.Event()
        lock = threading.Lock()

        def writer():
            while not stop.is_set():
                marker = f"bench {uuid.uuid4()}"
                key = str(uuid.uuid4())
                final = None
                while final is None and not stop.is_set():
                    headers = {"Idempotency-Key": key} if keys else {}
                    sent = time.monotonic()
                    try:
                        status, _ = request(port, "POST", note_path,
                                            {"note_type": "contact", "body": marker},
                                            token=token, headers=headers, timeout=5)
                    except (OSError, http.client.HTTPException):
                        status = "timeout"
                    with lock:
                        events.append((sent, time.monotonic(), status))
                    if status == 201:
                        final = 201
                    else:
                        time.sleep(0.5)
                with lock:
                    intended.append((marker, final))

        threads = [threading.Thread(target=writer) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(args.outage)
        outage_start = time.monotonic()
        proxy.set(mode)
        time.sleep(args.outage)
        outage_end = time.monotonic()
        proxy.set("pass")
        time.sleep(args.outage)
        stop.set()
        for thread in threads:
            thread.join()
        time.sleep(2)

        during = [(s, a, st) for s, a, st in events if outage_start + 0.5 <= s < outage_end]
        waits = sorted(a - s for s, a, _ in during)
        statuses = {}
        for _, _, st in during:
            statuses[st] = statuses.get(st, 0) + 1
        first_503 = min((a for s, a, st in events if st == 503 and a >= outage_start),
                        default=None)
        first_ok = min((a for s, a, st in events if st == 201 and s >= outage_end),
                       default=None)
        counts = dict(line.rsplit("|", 1) for line in psql(
            f"{base}/{name}",
            "SELECT body, count(*) FROM notes WHERE body LIKE 'bench %' GROUP BY body"
        ).splitlines() if line)
        duplicates = sum(int(c) - 1 for c in counts.values() if int(c) > 1)
        missing = sum(1 for marker, final in intended if final == 201 and marker not in counts)

        def q(p):
            return waits[min(len(waits) - 1, int(p * len(waits)))] if waits else float("nan")
        print(f"{mode:5} {'B: same key' if keys else 'A: no key  '} | "
              f"answered in outage p50 {q(0.5):.2f} s, p99 {q(0.99):.2f} s, "
              f"max {max(waits) if waits else float('nan'):.2f} s {dict(sorted(statuses.items(), key=str))} | "
              f"time to 503 {first_503 - outage_start if first_503 else float('nan'):.2f} s | "
              f"time to recover {first_ok - outage_end if first_ok else float('nan'):.2f} s | "
              f"intended notes {len(intended)}, duplicates {duplicates}, missing {missing}",
              flush=True)
    finally:
        server.terminate()
        server.wait()
        psql(f"{base}/postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        subprocess.run(["rm", "-rf", data_dir], check=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/debug/casebridge")
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--port", type=int, default=18280)
    parser.add_argument("--modes", default="down,stall")
    args = parser.parse_args()
    print(f"casebridge outage benchmark: {args.clients} writers, {args.outage:.0f} s outage, "
          f"5 s client timeout; {args.binary}", flush=True)
    for mode in args.modes.split(","):
        for keys in (False, True):
            run_one(args, mode, keys)


if __name__ == "__main__":
    sys.exit(main())
