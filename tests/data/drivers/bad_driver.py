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
* ``silent-timeout``: keeps to the protocol, but its library sends nothing:
  after the request's ``timeout_ms`` it answers with a ``timeout`` error;
* ``hostile``: names its library, and writes to stderr before exiting with
  status 7, text with terminal escapes (ESC [2J clears a screen; a CR lets
  "FAKE PASS" overwrite the line it is on).
* ``bidi``: the same with Unicode bidi controls and invisible characters
  instead: a right-to-left override shows "LIAF" as "FAIL" read backwards,
  isolates, marks, a zero-width space (Trojan Source, CVE-2021-42574).
"""

import json
import sys
import time

MODE = sys.argv[1]
HOSTILE = "\x1b[2J\rFAKE PASS"
BIDI = "\u202eLIAF\u202c \u2066\u2067\u2068x\u2069 \u200e\u200f\u061c\u202a\u202b\u202d\u200b\ufeff\U000e0041"
CAPABILITIES = ["submit", "submit_background", "priority", "unique", "status", "option"]


def write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "hello":
        library = f"bad ({MODE})" + (HOSTILE if MODE == "hostile" else BIDI if MODE == "bidi" else "")
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
    elif MODE == "bidi":
        sys.stderr.write(f"bad driver: {BIDI}\n")
        sys.exit(7)
    elif MODE == "garbage":
        write("this is not JSON")
    elif MODE == "wrong-id":
        write(json.dumps({"id": req["id"] + 41, "ok": True, "handle": "H:x:1"}))
    elif MODE == "bad-kind":
        write(json.dumps({"id": req["id"], "ok": False, "error": {"kind": "oops", "message": "no"}}))
    elif MODE == "missing-field":
        write(json.dumps({"id": req["id"], "ok": True}))
    elif MODE == "silent-timeout":
        time.sleep(req["timeout_ms"] / 1000)
        message = "no reply from the server"
        write(json.dumps({"id": req["id"], "ok": False, "error": {"kind": "timeout", "message": message}}))
    elif MODE == "stdout-chatter":
        write("submitting now...")
        write(json.dumps({"id": req["id"], "ok": True, "handle": "H:x:1"}))
