"""A tiny gear (PyPI gear 0.16) 'reverse' worker for gearsim's client-under-test vectors.

usage: python gear_worker.py HOST PORT [JOBS]
"""

import sys

import gear

host, port = sys.argv[1], int(sys.argv[2])
jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
worker = gear.Worker("gearsim-test")
worker.addServer(host, port)
worker.waitForServer(timeout=20)
worker.registerFunction("reverse")
for _ in range(jobs):
    job = worker.getJob()
    job.sendWorkComplete(job.arguments[::-1])
print("worked:", jobs)
worker.shutdown()
