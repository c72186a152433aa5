#!/usr/bin/python3
"""Bench fixture: restarts a server RESTARTS times on one listening socket that this process
holds, as systemd does for a socket unit, while a client asks every 2 ms over a new
connection each. No systemd and no deferred-builds are involved: what fails is the server's
own restart. Prints "KEY<TAB>VALUE" lines: restarts, requests, and failures by kind.

  restart.py SERVER RESTARTS PORT      SERVER: uvicorn, hypercorn or gunicorn
"""
import collections
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

server, restarts, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
here = os.path.dirname(os.path.abspath(__file__))
commands = {
    "uvicorn": ["-m", "uvicorn", "--app-dir", here, "--no-access-log", "--log-level", "warning", "app:app", "--fd", "3"],
    "hypercorn": ["-m", "hypercorn", "--bind", "fd://3", "--log-level", "warning", os.path.join(here, "app:app")],
    "gunicorn": ["-m", "gunicorn", "--chdir", here, "--bind", "fd://3", "--workers", "2", "--log-level", "warning", "wsgi:app"],
}

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(4096)
model = tempfile.mkdtemp()
with open(os.path.join(model, "model"), "w") as f:
    f.write("id=A\nw=2\nb=1\n")
env = dict(os.environ, DEFERRED_MODEL_PATH=model, LOAD_SECONDS="0", PYTHONPATH=here)
counts = collections.Counter()
done = threading.Event()


def start():
    return subprocess.Popen([sys.executable] + commands[server], env=env, pass_fds=(3,), stdout=subprocess.DEVNULL,
                            preexec_fn=lambda: os.dup2(listener.fileno(), 3))


def client():
    while not done.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/predict?x=1", headers={"Connection": "close"})
            r = c.getresponse()
            r.read()
            c.close()
            counts["ok" if r.status == 200 else f"status_{r.status}"] += 1
        except Exception as e:  # every failure counts, whatever it is
            counts[type(e).__name__] += 1
        time.sleep(0.002)


def answered(n):
    """Waits until the client has had n more answers (the new server serves)."""
    base, until = counts["ok"], time.monotonic() + 60
    while counts["ok"] < base + n and time.monotonic() < until:
        time.sleep(0.005)


thread = threading.Thread(target=client)
thread.start()
p = start()
for _ in range(restarts):
    answered(20)
    p.send_signal(signal.SIGTERM)
    p.wait()
    p = start()
answered(20)
done.set()
thread.join()
p.send_signal(signal.SIGTERM)
p.wait()
print(f"restart.{server}.restarts\t{restarts}")
print(f"restart.{server}.requests\t{sum(counts.values())}")
print(f"restart.{server}.failed\t{sum(v for k, v in counts.items() if k != 'ok')}")
for k, v in sorted(counts.items()):
    if k != "ok":
        print(f"restart.{server}.failed.{k}\t{v}")
