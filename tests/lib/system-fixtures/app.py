"""Test fixture: a FastAPI app under Debian's uvicorn, as people deploy them.

Loads the model deferred-builds published at $DEFERRED_MODEL_PATH, after sleeping
$LOAD_SECONDS (a large model's load), then answers GET /health with 200 and
GET /predict?x=NUMBER with {"model": ID, "x": X, "y": Y}. It never speaks sd_notify: the
unit learns that it serves from /health (ready-url).

  python3 -m uvicorn --app-dir /opt/dbx-test app:app --fd 3                  # socket from systemd
  python3 -m uvicorn --app-dir /opt/dbx-test app:app --host 127.0.0.1 --port P
"""
import os
import time

from fastapi import FastAPI

import linreg

time.sleep(float(os.environ.get("LOAD_SECONDS", "0")))
MODEL_ID, W, B = linreg.load()
print(f"app.py: model {MODEL_ID} loaded, LISTEN_FDS={os.environ.get('LISTEN_FDS', '')}", flush=True)

app = FastAPI()


@app.get("/health")
def health():
    return {"model": MODEL_ID}


@app.get("/predict")
def predict(x: float = 0.0):
    return {"model": MODEL_ID, "x": x, "y": W * x + B}
