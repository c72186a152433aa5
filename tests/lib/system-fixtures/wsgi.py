"""Test fixture: the linreg model as a WSGI app under Debian's gunicorn, whose sync workers
answer every connection they accept before they exit.

Loads the model at $DEFERRED_MODEL_PATH after sleeping $LOAD_SECONDS, then answers
GET /health with 200 and GET /predict?x=NUMBER with {"model": ID, "x": X, "y": Y}.

  python3 -m gunicorn --chdir /opt/dbx-test wsgi:app       # socket from systemd (LISTEN_FDS)
  python3 -m gunicorn --chdir /opt/dbx-test --bind 127.0.0.1:P wsgi:app
"""
import json
import os
import time
import urllib.parse

import linreg

time.sleep(float(os.environ.get("LOAD_SECONDS", "0")))
MODEL_ID, W, B = linreg.load()
print(f"wsgi.py: model {MODEL_ID} loaded", flush=True)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/health":
        answer = {"model": MODEL_ID}
    elif path == "/predict":
        x = float(urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("x", ["0"])[0])
        answer = {"model": MODEL_ID, "x": x, "y": W * x + B}
    else:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    body = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
