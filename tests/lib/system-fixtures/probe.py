#!/usr/bin/python3
"""Test fixture: does at start what ML runtimes do, and prints one line per check.

PROBE <check> ok|denied <detail>. Checks: the model is readable; /proc/cpuinfo (PyTorch's
cpuinfo, psutil); writable+executable memory (oneDNN, numba, XLA JITs); sched_setaffinity
(OpenMP/torch thread pinning); getifaddrs over AF_NETLINK (NCCL/Gloo bootstrap, psutil);
a writable cache directory (Hugging Face hub, torch.hub, Triton); /proc/driver (CUDA
reads /proc/driver/nvidia); a persistent, writable home (a counter of the probe's starts
in $HOME); setuid() and setgid() to its own ids (gunicorn's workers), and setuid(0), which
no profile allows. With secrets handed over, "PROBE secret-credential|secret-env ok sha256=HEX"
names the SHA-256 of the credential "token" and of $DBX_SECRET, never the secret. Then it
stays up, so the unit is active and the lines are in the journal.
"""
import ctypes
import hashlib
import mmap
import os
import socket
import tempfile
import time


def report(check, fn):
    try:
        detail = fn()
        print(f"PROBE {check} ok {detail}", flush=True)
    except Exception as e:  # the reason is the result
        print(f"PROBE {check} denied {type(e).__name__}: {e}", flush=True)


def model():
    with open(os.path.join(os.environ["DEFERRED_MODEL_PATH"], "model")) as f:
        return f.readline().strip()


def cpuinfo():
    with open("/proc/cpuinfo") as f:
        return f"{sum(1 for l in f if l.startswith('processor'))} processors"


def wx_memory():
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.close()
    return "PROT_WRITE|PROT_EXEC mapped"


def affinity():
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    return f"{len(cpus)} cpus"


def netlink():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    s.close()
    libc = ctypes.CDLL(None, use_errno=True)
    p = ctypes.c_void_p()
    if libc.getifaddrs(ctypes.byref(p)) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    libc.freeifaddrs(p)
    return "getifaddrs"


def cache():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ.get("HOME", "/"), ".cache")
    os.makedirs(base, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=base):
        pass
    return base


def proc_driver():
    return f"{len(os.listdir('/proc/driver'))} entries in /proc/driver"


def state():
    home = os.environ.get("HOME", "/")
    counter = os.path.join(home, "probe-starts")
    try:
        with open(counter) as f:
            n = int(f.read())
    except FileNotFoundError:
        n = 0
    with open(counter + ".tmp", "w") as f:
        f.write(str(n + 1))
    os.rename(counter + ".tmp", counter)
    return f"starts={n + 1} home={home}"


def setuid_self():
    os.setgid(os.getgid())
    os.setuid(os.getuid())
    return f"uid {os.getuid()}"


def setuid_other():
    os.setuid(0)
    return "became uid 0"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


for name, fn in [("model", model), ("cpuinfo", cpuinfo), ("wx-memory", wx_memory),
                 ("affinity", affinity), ("netlink", netlink), ("cache", cache),
                 ("proc-driver", proc_driver), ("state", state), ("setuid-self", setuid_self),
                 ("setuid-other", setuid_other)]:
    report(name, fn)
if "CREDENTIALS_DIRECTORY" in os.environ:
    with open(os.path.join(os.environ["CREDENTIALS_DIRECTORY"], "token"), "rb") as f:
        print(f"PROBE secret-credential ok sha256={sha256(f.read())}", flush=True)
if "DBX_SECRET" in os.environ:
    print(f"PROBE secret-env ok sha256={sha256(os.environ['DBX_SECRET'].encode())}", flush=True)
print(f"PROBE user ok uid={os.getuid()}", flush=True)
while True:
    time.sleep(3600)
