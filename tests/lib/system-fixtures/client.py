#!/usr/bin/python3
"""Test fixture: a client asking a server every INTERVAL seconds, one new connection per
request, each with an explicit TIMEOUT, for at most SECONDS. One line per request:

  START_MONOTONIC LATENCY_SECONDS MODEL_ID PORT     (answered 200)
  START_MONOTONIC LATENCY_SECONDS FAIL:WHY PORT     (refused, reset, timed out, not 200)

PORT is the client's own port, "-" when it never connected: a server's log names the
connection by it.

  client.py URL INTERVAL TIMEOUT SECONDS LOG
"""
import http.client
import json
import sys
import time
import urllib.parse

url, interval, timeout, seconds, log = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlsplit(url)
end = time.monotonic() + seconds
with open(log, "a", buffering=1) as out:
    while time.monotonic() < end:
        start = time.monotonic()
        port = "-"
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
            c.connect()
            port = c.sock.getsockname()[1]
            c.request("GET", u.path + ("?" + u.query if u.query else ""), headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read()
            c.close()
            what = json.loads(body)["model"] if r.status == 200 else f"FAIL:status-{r.status}"
        except Exception as e:  # every failure counts, whatever it is
            what = "FAIL:" + type(e).__name__
        out.write(f"{start:.6f} {time.monotonic() - start:.6f} {what} {port}\n")
        left = interval - (time.monotonic() - start)
        if left > 0:
            time.sleep(left)
