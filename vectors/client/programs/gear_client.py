"""A tiny gear (PyPI gear 0.16) client for gearsim's client-under-test vectors.

usage: python gear_client.py HOST PORT bg|fg
  bg: submit 'reverse' 'hello' (unique u-bg) in the background, print the handle
  fg: submit 'reverse' 'hello' (unique u-fg), wait for the result, print it
"""

import sys
import time

import gear

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = gear.Client("gearsim-test")
client.addServer(host, port)
client.waitForServer(timeout=20)
job = gear.Job(b"reverse", b"hello", unique=b"u-" + mode.encode())
client.submitJob(job, background=(mode == "bg"), timeout=20)
if mode == "bg":
    print("handle:", job.handle.decode())
else:
    deadline = time.monotonic() + 20
    while not job.complete and time.monotonic() < deadline:
        time.sleep(0.01)
    print("result:", b"".join(job.data).decode())
client.shutdown()
