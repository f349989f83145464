#!/usr/bin/env python3
"""gearsim driver for toy_gearman (beside this file); ``--broken`` builds the toy with its two defects.

``--break NAME`` (repeatable) turns on one of the finer switches of toy_gearman.BREAKS, ``--habit NAME``
(repeatable) one of the legal habits of toy_gearman.HABITS.

Usage: gearsim run --driver '{python} tests/data/toy_client/toy_driver.py [--broken] [--break NAME] [--habit NAME]'
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_gearman as toy  # beside this file

CLIENT = ["submit", "submit_background", "priority", "unique", "epoch", "status", "status_unique", "option",
          "servers", "events_data", "events_warning", "events_status", "events_exception"]  # fmt: skip
WORKER = ["register", "register_timeout", "unregister", "work", "client_id", "servers", "work_status",
          "work_data", "work_warning", "work_fail", "work_exception", "work_abandon"]  # fmt: skip
BROKEN = "--broken" in sys.argv
BREAKS = frozenset(sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--break")
HABITS = frozenset(sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--habit")
if BREAKS - toy.BREAKS.keys():
    sys.exit(f"toy_driver: unknown --break {sorted(BREAKS - toy.BREAKS.keys())}; known: {sorted(toy.BREAKS)}")
if HABITS - toy.HABITS.keys():
    sys.exit(f"toy_driver: unknown --habit {sorted(HABITS - toy.HABITS.keys())}; known: {sorted(toy.HABITS)}")


class Failure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Driver:
    def __init__(self) -> None:
        self.servers: list[tuple[str, int]] = []
        self.role = ""
        self.node: Any = None

    def connected(self) -> Any:
        if self.node is None:
            kind = toy.Client if self.role == "client" else toy.Worker
            self.node = kind(self.servers, broken=BROKEN, breaks=BREAKS, habits=HABITS)
        return self.node

    def hello(self, req: dict[str, Any]) -> dict[str, Any]:
        self.role = req["role"]
        self.servers = [(a.rpartition(":")[0], int(a.rpartition(":")[2])) for a in req["servers"]]
        library = "toy_gearman" + (" (broken)" if BROKEN else "") + "".join(f" (--break {b})" for b in sorted(BREAKS))
        library += "".join(f" (--habit {h})" for h in sorted(HABITS))
        return {"library": library, "capabilities": CLIENT if self.role == "client" else WORKER}

    def submit(self, req: dict[str, Any]) -> dict[str, Any]:
        unique = req.get("unique")
        got = self.connected().submit(
            req["function"].encode(),
            base64.b64decode(req["payload_b64"]),
            None if unique is None else unique.encode(),
            req["background"],
            req["priority"],
            req.get("epoch"),
            req["timeout_ms"] / 1000,
        )
        out: dict[str, Any] = {"handle": got["handle"].decode()}
        if not req["background"]:
            out["outcome"], out["data_b64"] = got["outcome"], b64(got["data"])
            out["events"] = [
                {"event": k, "numerator": v[0], "denominator": v[1]}
                if k == "status"
                else {"event": k, "data_b64": b64(v)}
                for k, v in got["events"]
            ]
        return out

    def _status(self, args: list[bytes]) -> dict[str, Any]:
        return {"known": args[1] == b"1", "running": args[2] == b"1", "numerator": int(args[3] or 0),
                "denominator": int(args[4] or 0)}  # fmt: skip

    def status(self, req: dict[str, Any]) -> dict[str, Any]:
        return self._status(self.connected().status(req["handle"].encode(), req["timeout_ms"] / 1000))

    def status_unique(self, req: dict[str, Any]) -> dict[str, Any]:
        args = self.connected().status_unique(req["unique"].encode(), req["timeout_ms"] / 1000)
        return {**self._status(args), "clients": int(args[5] or 0)}

    def option(self, req: dict[str, Any]) -> dict[str, Any]:
        self.connected().set_option(req["name"], req["timeout_ms"] / 1000)
        return {}

    def register(self, req: dict[str, Any]) -> dict[str, Any]:
        self.connected().register(req["function"].encode(), req.get("function_timeout_ms"))
        return {}

    def unregister(self, req: dict[str, Any]) -> dict[str, Any]:
        self.connected().unregister(req["function"].encode())
        return {}

    def set_client_id(self, req: dict[str, Any]) -> dict[str, Any]:
        self.connected().set_client_id(req["client_id"].encode())
        return {}

    def work(self, req: dict[str, Any]) -> dict[str, Any]:
        job = self.connected().grab(req["timeout_ms"] / 1000)
        reply = {"job": {"handle": job.handle.decode(), "function": job.function.decode(),
                         "unique": None if job.unique is None else job.unique.decode(),
                         "payload_b64": b64(job.payload)}}  # fmt: skip
        for step in req["behaviour"]:
            action, data = step["do"], base64.b64decode(step.get("data_b64", ""))
            if action == "status":
                job.status(step["numerator"], step["denominator"])
            elif action == "sleep":
                time.sleep(step["ms"] / 1000)
            elif action == "abandon":
                write(req["id"], {"ok": True, **reply})
                os._exit(0)
            elif action == "fail":
                job.send("WORK_FAIL")
            else:
                job.send("WORK_" + action.upper(), data)
        return reply


def write(request_id: int, body: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"id": request_id, **body}) + "\n")
    sys.stdout.flush()


def main() -> int:
    driver = Driver()
    kinds = {toy.GearmanError: "library", toy.LostConnection: "lost", toy.Timeout: "timeout"}
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "bye":
            write(req["id"], {"ok": True})
            break
        try:
            method = getattr(driver, req["op"], None)
            if method is None:
                raise Failure("unsupported", f"no {req['op']}")
            write(req["id"], {"ok": True, **method(req)})
        except (Failure, toy.GearmanError, toy.LostConnection, toy.Timeout) as exc:
            kind = exc.kind if isinstance(exc, Failure) else kinds[type(exc)]
            write(req["id"], {"ok": False, "error": {"kind": kind, "message": str(exc)}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
