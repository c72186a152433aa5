#!/usr/bin/python3
"""Test fixture: a minimal inference server in Debian's python3, as people write them.

Loads the model that deferred-builds published at $DEFERRED_MODEL_PATH and answers
GET /predict?x=NUMBER with {"model": ID, "x": X, "y": Y} on 127.0.0.1:PORT.
"""
import http.server
import json
import os
import sys
import urllib.parse


def load(path):
    values = {}
    with open(os.path.join(path, "model")) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            values[key] = value
    return values["id"], float(values["w"]), float(values["b"])


MODEL_ID, W, B = load(os.environ["DEFERRED_MODEL_PATH"])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/predict":
            self.send_error(404)
            return
        x = float(urllib.parse.parse_qs(url.query).get("x", ["0"])[0])
        body = json.dumps({"model": MODEL_ID, "x": x, "y": W * x + B}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print(f"serve.py: model {MODEL_ID} from {os.path.realpath(os.environ['DEFERRED_MODEL_PATH'])}", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
