#!/usr/bin/env python3
# Usage: python3 bench/outage.py BIN PORT  (root; stops and starts the machine's PostgreSQL)
"""Exchanges at ~40/s against a PG-backed keymint while PostgreSQL is stopped
for 5 s (fast mode); prints every answer's status with its time since the stop.
A second key is revoked just before the stop and exchanged during it too."""
import http.client, json, subprocess, sys, tempfile, time, threading, os, re
BIN, PORT = sys.argv[1], int(sys.argv[2])
DB = "keymint_outage"
subprocess.run(["psql", "-U", "postgres", "-h", "127.0.0.1", "-c", f"DROP DATABASE IF EXISTS {DB}"], check=True, capture_output=True)
subprocess.run(["psql", "-U", "postgres", "-h", "127.0.0.1", "-c", f"CREATE DATABASE {DB}"], check=True, capture_output=True)
work = tempfile.mkdtemp(prefix="keymint-outage-")
keys = os.path.join(work, "keys")
log_path = os.path.join(work, "server.log")
env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}", KEYMINT_BIND=f"127.0.0.1:{PORT}", KEYMINT_KEYS_DIR=keys, RUST_LOG="warn")
server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True)
out = ""
while "kmk_" not in out:
    out += server.stdout.readline()
secret = re.search(r"(kmk_\S+)", out).group(1)
def call(method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse(); data = r.read()
        return r.status, data
    except Exception as e:
        return f"ERR {type(e).__name__}", b""
    finally:
        c.close()
while call("GET", "/readyz")[0] != 200: time.sleep(0.1)
auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
st, body = call("POST", "/api/v1/workspaces/default/keys", auth, json.dumps({"name": "victim", "kind": "workspace"}))
victim = json.loads(body); vsecret, vid = victim["secret"], victim["id"]
for s in (secret, vsecret):  # into the cache
    for _ in range(3): assert call("POST", "/auth/token", {"Authorization": f"Bearer {s}"})[0] == 200
st, _ = call("DELETE", f"/api/v1/workspaces/default/keys/{vid}", auth)
assert st == 204, st
print("revoked victim; victim now:", call("POST", "/auth/token", {"Authorization": f"Bearer {vsecret}"})[0])
ver = os.listdir("/etc/postgresql")[0]
results = []
stop_at = [None]
def load():
    t_end = time.time() + 14
    while time.time() < t_end:
        t0 = time.time()
        a = call("POST", "/auth/token", {"Authorization": f"Bearer {secret}"})[0]
        b = call("POST", "/auth/token", {"Authorization": f"Bearer {vsecret}"})[0]
        t1 = time.time()
        results.append((t0, t1, a, b))
        time.sleep(max(0, 0.025 - (t1 - t0)))
th = threading.Thread(target=load); th.start()
time.sleep(2)
stop_at[0] = time.time()
subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", ver, "main", "stop", "-m", "fast"], check=True)
stopped = time.time()
time.sleep(5)
print("start issued")
subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", ver, "main", "start"], check=True)
started = time.time()
th.join()
print(f"stop command took {stopped-stop_at[0]:.2f}s; db down {started-stopped:.2f}s")
from collections import Counter
phases = {"before": [], "during": [], "after": []}
for t0, t1, a, b in results:
    ph = "before" if t0 < stop_at[0] else ("during" if t0 < started else "after")
    phases[ph].append((t0 - stop_at[0], t1 - t0, a, b))
for ph, rows in phases.items():
    print(ph, "live key:", Counter(r[2] for r in rows), "revoked key:", Counter(r[3] for r in rows),
          "max latency %.2fs" % max((r[1] for r in rows), default=0))
prev=None
for r in phases["during"]:
    if r[2]!=prev: print("  +%.3fs took %.3fs live=%s revoked=%s" % r); prev=r[2]
print("  stop issued at +0.000, stop returned +%.3f, start issued +%.3f, start returned +%.3f" % (stopped-stop_at[0], stopped-stop_at[0]+5, started-stop_at[0]))
first503 = next((r for r in phases["during"] if r[2] == 503), None)
print("first 503 of the live key at +%.3fs" % first503[0] if first503 else "no 503 during outage")
last200 = [r for r in phases["during"] if r[2] == 200]
print("200s of the live key during the outage:", len(last200), "last at +%.3fs" % last200[-1][0] if last200 else "")
recovered = next((r for r in phases["after"] if r[2] == 200), None)
print("first 200 after restart at +%.3fs" % recovered[0] if recovered else "never recovered")
print("ready after:", call("GET", "/readyz")[0])
server.terminate(); server.wait(10)
log = open(log_path).read()
print("panics in log:", log.count("panicked"), "| log lines:", len(log.splitlines()))
subprocess.run(["psql", "-U", "postgres", "-h", "127.0.0.1", "-c", f"DROP DATABASE IF EXISTS {DB}"], capture_output=True)
