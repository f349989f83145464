#!/usr/bin/env python3
"""A driver that breaks the driver protocol on purpose, for gearsim's own tests.

Usage: bad_driver.py MODE, where MODE says what it does at its first submit
(hello is answered properly, offering every client capability):

* ``hang``: never answers;
* ``die``: writes to stderr, then exits with status 7;
* ``garbage``: writes a line that is not JSON;
* ``wrong-id``: answers another id;
* ``bad-kind``: an error whose kind is not one of the four;
* ``missing-field``: a background submit's success without its handle;
* ``stdout-chatter``: prints a debugging line before its reply;
* ``hostile``: names its library, and writes to stderr before exiting with
  status 7, text with terminal escapes (ESC [2J clears a screen; a CR lets
  "FAKE PASS" overwrite the line it is on).
"""

import json
import sys
import time

MODE = sys.argv[1]
HOSTILE = "\x1b[2J\rFAKE PASS"
CAPABILITIES = ["submit", "submit_background", "priority", "unique", "status", "option"]


def write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "hello":
        library = f"bad ({MODE})" + (HOSTILE if MODE == "hostile" else "")
        write(json.dumps({"id": req["id"], "ok": True, "library": library, "capabilities": CAPABILITIES}))
        continue
    if req["op"] == "bye":
        write(json.dumps({"id": req["id"], "ok": True}))
        break
    if MODE == "hang":
        time.sleep(3600)
    elif MODE == "die":
        sys.stderr.write("bad driver: giving up on purpose\n")
        sys.exit(7)
    elif MODE == "hostile":
        sys.stderr.write(f"bad driver: {HOSTILE}\n")
        sys.exit(7)
    elif MODE == "garbage":
        write("this is not JSON")
    elif MODE == "wrong-id":
        write(json.dumps({"id": req["id"] + 41, "ok": True, "handle": "H:x:1"}))
    elif MODE == "bad-kind":
        write(json.dumps({"id": req["id"], "ok": False, "error": {"kind": "oops", "message": "no"}}))
    elif MODE == "missing-field":
        write(json.dumps({"id": req["id"], "ok": True}))
    elif MODE == "stdout-chatter":
        write("submitting now...")
        write(json.dumps({"id": req["id"], "ok": True, "handle": "H:x:1"}))
