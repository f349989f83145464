#!/usr/bin/env python3
"""Run another driver and copy every line both ways to a log (JSON lines: {"to": ..., "line": ...}).

Usage: tee_driver.py LOG -- COMMAND... ; gearsim's tests validate the log against spec/driver.schema.json.
"""

import json
import subprocess
import sys

log_path = sys.argv[1]
command = sys.argv[sys.argv.index("--") + 1 :]
child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
assert child.stdin is not None and child.stdout is not None
with open(log_path, "a", encoding="utf-8") as log:
    for line in sys.stdin.buffer:
        log.write(json.dumps({"to": "driver", "line": line.decode()}) + "\n")
        child.stdin.write(line)
        child.stdin.flush()
        reply = child.stdout.readline()
        if not reply:
            break
        log.write(json.dumps({"to": "gearsim", "line": reply.decode()}) + "\n")
        log.flush()
        sys.stdout.buffer.write(reply)
        sys.stdout.buffer.flush()
child.stdin.close()
sys.exit(child.wait())
