"""The VM test's server: the booted suites' FastAPI app (tests/lib/system-fixtures/app.py,
on PYTHONPATH: it loads the model at $DEFERRED_MODEL_PATH and answers /health and
/predict), plus what the test asks of the unit it runs in. Run by uvicorn with the socket
systemd passes (`--fd 3`):

  python3 -m uvicorn --app-dir tests/nixos/api api:app --fd 3

GET /probe answers {"token_sha256": the SHA-256 of the credential `api-token`, "cpuinfo":
whether /proc/cpuinfo could be read, "home": $HOME, "home_writable": whether it is}.
"""
import hashlib
import os

from app import app

# A secret given by path: systemd copies it to $CREDENTIALS_DIRECTORY (LoadCredential=).
with open(os.path.join(os.environ["CREDENTIALS_DIRECTORY"], "api-token"), "rb") as f:
    TOKEN_SHA256 = hashlib.sha256(f.read().strip()).hexdigest()


def cpuinfo_readable() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return "processor" in f.read()
    except OSError:
        return False


@app.get("/probe")
def probe():
    home = os.environ.get("HOME", "")
    return {
        "token_sha256": TOKEN_SHA256,
        "cpuinfo": cpuinfo_readable(),
        "home": home,
        "home_writable": bool(home) and os.access(home, os.W_OK),
    }
