#!/usr/bin/env python3
"""gearsim driver for the Python library gear (PyPI ``gear``): a template for a driver of your own library.

The driver protocol (spec/driver.md in gearsim): gearsim writes one JSON
request a line on stdin and reads one JSON reply a line on stdout; anything
for a human goes to stderr. The first request is ``hello`` (the role, client
or worker, and the server addresses); the reply lists what this library can
do. Every later request is one operation of the library's API. A library
error is a reply ``{"ok": false, "error": {"kind": "library" | "timeout" |
"lost" | "unsupported", "message": ...}}``, never a crash.

gear specifics: events of a foreground job come through the client's packet
handlers (subclassed below); gear has no status call, so ``status`` sends
GET_STATUS with gear's own Packet class on the connection of the job (or
the first one) and waits for gear to update the Job; the worker's wait for a
job is interrupted by ``stopWaitingForJobs`` at the request's timeout.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import sys
import threading
import time
from typing import Any

import gear
from gear import constants

CLIENT_CAPABILITIES = [
    "submit", "submit_background", "priority", "unique", "status", "option", "servers",
    "events_data", "events_warning", "events_status", "events_exception",
]  # fmt: skip
WORKER_CAPABILITIES = [
    "register", "register_timeout", "unregister", "work", "servers",
    "work_status", "work_data", "work_warning", "work_fail", "work_exception", "work_abandon",
]  # fmt: skip
PRECEDENCE = {"high": gear.PRECEDENCE_HIGH, "normal": gear.PRECEDENCE_NORMAL, "low": gear.PRECEDENCE_LOW}


class Failure(Exception):
    """An error to report: kind is library, timeout, lost or unsupported."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def text(data: bytes | str | None) -> str | None:
    """gear gives names as str and handles as bytes; the protocol wants text."""
    return data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data


class Client(gear.Client):  # type: ignore[misc]
    """gear's client, recording each foreground job's events as they arrive."""

    def __init__(self) -> None:
        super().__init__(client_id="gearsim-driver")
        self.changed = threading.Condition()

    def _event(self, packet: Any, event: dict[str, Any]) -> None:
        job = packet.getJob()
        with self.changed:
            job.events.append(event)
            self.changed.notify_all()

    def handleWorkData(self, packet: Any) -> Any:
        self._event(packet, {"event": "data", "data_b64": b64(packet.getArgument(1, True))})
        return super().handleWorkData(packet)

    def handleWorkWarning(self, packet: Any) -> Any:
        self._event(packet, {"event": "warning", "data_b64": b64(packet.getArgument(1, True))})
        return super().handleWorkWarning(packet)

    def handleWorkStatus(self, packet: Any) -> Any:
        numerator, denominator = packet.getArgument(1), packet.getArgument(2)
        self._event(packet, {"event": "status", "numerator": int(numerator), "denominator": int(denominator)})
        return super().handleWorkStatus(packet)

    def handleWorkComplete(self, packet: Any) -> Any:
        packet.getJob().result = packet.getArgument(1, True)
        return self._notify(super().handleWorkComplete(packet))

    def handleWorkFail(self, packet: Any) -> Any:
        return self._notify(super().handleWorkFail(packet))

    def handleWorkException(self, packet: Any) -> Any:
        return self._notify(super().handleWorkException(packet))

    def handleStatusRes(self, packet: Any) -> Any:
        return self._notify(super().handleStatusRes(packet))

    def handleDisconnect(self, job: Any) -> Any:
        job.lost = True
        return self._notify(super().handleDisconnect(job))

    def _notify(self, value: Any) -> Any:
        with self.changed:
            self.changed.notify_all()
        return value


def new_job(function: str, payload: bytes, unique: str | None) -> Any:
    job = gear.Job(function.encode(), payload, unique=None if unique is None else unique.encode())
    job.events, job.result, job.lost = [], b"", False
    return job


def wait_for(client: Client, ready: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with client.changed:
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("timeout", f"nothing from the server within {timeout:g} s")
            client.changed.wait(left)


class Driver:
    def __init__(self) -> None:
        self.client: Any = None  # a Client once hello made it
        self.worker: Any = None
        self.jobs: dict[bytes, Any] = {}

    # ------------------------------------------------------------- hello

    def hello(self, req: dict[str, Any]) -> dict[str, Any]:
        if req["role"] == "client":
            self.client = node = Client()
            capabilities = CLIENT_CAPABILITIES
        else:
            self.worker = node = gear.Worker(client_id="gearsim-driver")
            capabilities = WORKER_CAPABILITIES
        for address in req["servers"]:
            host, _, port = address.rpartition(":")
            node.addServer(host, int(port))
        return {"library": f"gear {importlib.metadata.version('gear')}", "capabilities": capabilities}

    def connected(self, node: Any, timeout: float) -> None:
        try:
            node.waitForServer(timeout)
        except gear.TimeoutError:
            raise Failure("timeout", "no server could be connected") from None

    # ------------------------------------------------------------ client

    def submit(self, req: dict[str, Any]) -> dict[str, Any]:
        client, timeout = self.client, req["timeout_ms"] / 1000
        if req.get("epoch") is not None:
            raise Failure("unsupported", "gear cannot submit epoch jobs")
        self.connected(client, timeout)
        job = new_job(req["function"], base64.b64decode(req["payload_b64"]), req.get("unique"))
        try:
            client.submitJob(job, background=req["background"], precedence=PRECEDENCE[req["priority"]], timeout=timeout)
        except gear.GearmanError as exc:
            raise Failure("library", str(exc)) from None
        self.jobs[job.handle] = job
        if req["background"]:
            return {"handle": text(job.handle)}
        wait_for(client, lambda: job.complete or job.lost, timeout)
        if job.lost and not job.complete:
            raise Failure("lost", "the connection closed before the job ended")
        if job.exception is not None:
            outcome, data = "exception", job.exception
        else:
            outcome, data = ("fail", b"") if job.failure else ("complete", job.result)
        return {"handle": text(job.handle), "outcome": outcome, "data_b64": b64(data), "events": job.events}

    def status(self, req: dict[str, Any]) -> dict[str, Any]:
        client, timeout = self.client, req["timeout_ms"] / 1000
        handle = req["handle"].encode()
        self.connected(client, timeout)
        job = self.jobs.get(handle)
        if job is None or job.connection is None:  # a handle this client did not submit
            job = new_job("", b"", None)
            job.handle, job.connection = handle, client.getConnection()
            job.connection.related_jobs[handle] = job
        job.known = None
        client.sendPacket(gear.Packet(constants.REQ, constants.GET_STATUS, handle), job.connection)
        wait_for(client, lambda: job.known is not None or job.lost, timeout)
        if job.known is None:
            raise Failure("lost", "the connection closed before STATUS_RES")
        return {
            "known": job.known,
            "running": job.running,
            "numerator": int(job.numerator or 0),
            "denominator": int(job.denominator or 0),
        }

    def option(self, req: dict[str, Any]) -> dict[str, Any]:
        self.connected(self.client, req["timeout_ms"] / 1000)
        if not self.client.setOption(req["name"], timeout=req["timeout_ms"] / 1000):
            raise Failure("library", f"the server did not accept option {req['name']}")
        return {}

    # ------------------------------------------------------------ worker

    def register(self, req: dict[str, Any]) -> dict[str, Any]:
        self.connected(self.worker, req["timeout_ms"] / 1000)
        limit = req.get("function_timeout_ms")
        self.worker.registerFunction(req["function"], timeout=str(limit).encode() if limit else None)
        return {}

    def unregister(self, req: dict[str, Any]) -> dict[str, Any]:
        self.worker.unRegisterFunction(req["function"])
        return {}

    def work(self, req: dict[str, Any]) -> dict[str, Any]:
        worker, timeout = self.worker, req["timeout_ms"] / 1000
        timer = threading.Timer(timeout, worker.stopWaitingForJobs)
        timer.start()
        try:
            job = worker.getJob()
        except gear.InterruptedError:
            raise Failure("timeout", f"no job within {timeout:g} s") from None
        finally:
            timer.cancel()
        reply = {
            "job": {
                "handle": text(job.handle),
                "function": text(job.name),
                "unique": text(job.unique),
                "payload_b64": b64(job.arguments),
            }
        }
        for step in req["behaviour"]:
            action, data = step["do"], base64.b64decode(step.get("data_b64", ""))
            if action == "status":
                job.sendWorkStatus(step["numerator"], step["denominator"])
            elif action == "data":
                job.sendWorkData(data)
            elif action == "warning":
                job.sendWorkWarning(data)
            elif action == "sleep":
                time.sleep(step["ms"] / 1000)
            elif action == "complete":
                job.sendWorkComplete(data)
            elif action == "fail":
                job.sendWorkFail()
            elif action == "exception":
                job.sendWorkException(data)
            elif action == "abandon":
                write(req["id"], {"ok": True, **reply})
                os._exit(0)  # the connection closes with the process, the job never ends
        return reply


def write(request_id: int, body: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"id": request_id, **body}) + "\n")
    sys.stdout.flush()


def main() -> int:
    driver = Driver()
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "bye":
                write(req["id"], {"ok": True})
                break
            method = getattr(driver, op, None)
            if method is None:
                raise Failure("unsupported", f"gear's driver has no {op}")
            write(req["id"], {"ok": True, **method(req)})
        except Failure as exc:
            write(req["id"], {"ok": False, "error": {"kind": exc.kind, "message": str(exc)}})
        except Exception as exc:  # the library raised something else: report it, keep serving
            write(req["id"], {"ok": False, "error": {"kind": "library", "message": f"{type(exc).__name__}: {exc}"}})
    for node in (driver.client, driver.worker):
        if node is not None:
            node.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
