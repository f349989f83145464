#!/usr/bin/env python3
"""A driver that answers one operation with a line of gearsim's tests' choosing, for gearsim's own tests.

Usage: hostile_json.py OP LINE. Every request whose op is OP (``hello``,
``submit``, ``status``, ``work``...) or every request but hello when OP is
``*``, is answered with LINE, its ``{id}`` replaced by the request's id (a
line with no ``{id}`` answers no id at all). Other requests are answered
properly: hello offering every capability, bye and the rest with ``ok`` (OP
``none``: every request properly).
It never uses a library: what a hostile reply says is all that is judged.
"""

import json
import sys

OP, LINE = sys.argv[1], sys.argv[2]
CAPABILITIES = [
    "submit", "submit_background", "priority", "unique", "status", "status_unique", "option", "servers",
    "events_data", "events_warning", "events_status", "events_exception", "client_id", "register", "unregister",
    "work", "work_status", "work_data", "work_warning", "work_fail", "work_exception",
]  # fmt: skip


def write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    if op == OP or (OP == "*" and op != "hello"):
        write(LINE.replace("{id}", str(req["id"])))
    elif op == "hello":
        write(json.dumps({"id": req["id"], "ok": True, "library": "hostile json", "capabilities": CAPABILITIES}))
    else:
        write(json.dumps({"id": req["id"], "ok": True}))
