"""Test fixture: the model the example trainer writes, read and served the way the servers
under test (serve.py, torch-serve.py, app.py, wsgi.py) all do.

$DEFERRED_MODEL_PATH/model holds `id=`, `w=` and `b=` lines: y = w * x + b.
"""
import http.server
import json
import os
import urllib.parse


def load(path=None):
    """Returns (id, w, b) of the model at path, by default $DEFERRED_MODEL_PATH."""
    values = {}
    with open(os.path.join(path or os.environ["DEFERRED_MODEL_PATH"], "model")) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            values[key] = value
    return values["id"], float(values["w"]), float(values["b"])


def serve(port, model, extra=None):
    """Answers GET /predict?x=NUMBER on 127.0.0.1:port with {"model": ID, "x": X, "y": Y}
    and what extra(x) adds, for ever."""
    model_id, w, b = model

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path != "/predict":
                self.send_error(404)
                return
            x = float(urllib.parse.parse_qs(url.query).get("x", ["0"])[0])
            answer = {"model": model_id, "x": x, "y": w * x + b}
            answer.update(extra(x) if extra else {})
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
