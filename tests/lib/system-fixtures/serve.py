#!/usr/bin/python3
"""Test fixture: a minimal inference server in Debian's python3, as people write them.

Loads the model that deferred-builds published at $DEFERRED_MODEL_PATH and answers
GET /predict?x=NUMBER with {"model": ID, "x": X, "y": Y} on 127.0.0.1:PORT.
"""
import os
import sys

import linreg

MODEL = linreg.load()
print(f"serve.py: model {MODEL[0]} from {os.path.realpath(os.environ['DEFERRED_MODEL_PATH'])}", flush=True)
linreg.serve(int(sys.argv[1]), MODEL)
