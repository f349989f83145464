"""A driver whose request was cut short (its own timeout, or a case's time limit) is stopped at once, not asked bye.

Its replies come in order: the reply to ``bye`` would come after the one it
never wrote, so asking cost every timed-out case GRACE + 0.5 s more (7.5 s
past ``--driver-time-limit`` with the stop's own grace, per case, for a
driver that never answers). ``stop`` goes to signals instead.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from gearsim.io import driver as driver_module

BAD = Path(__file__).resolve().parents[1] / "data" / "drivers" / "bad_driver.py"


async def _hung_driver() -> driver_module.DriverProcess:
    """bad_driver.py in its 'hang' mode, greeted: it answers hello, then never writes again."""
    driver = await driver_module.DriverProcess.start([sys.executable, str(BAD), "hang"], "c")
    await driver.request("hello", {"protocol": driver_module.PROTOCOL, "role": "client", "servers": []}, 5.0)
    return driver


def _stop_after(cut: Callable[[driver_module.DriverProcess], Awaitable[None]], grace: float) -> tuple[bool, list[str]]:
    """Cut a request with ``cut``, stop the driver; whether it was found hung, and what stop asked it."""

    async def play() -> tuple[bool, list[str]]:
        driver = await _hung_driver()
        await cut(driver)
        asked: list[str] = []
        real = driver.request

        async def recorded(op: str, args: object, timeout: float) -> driver_module.Reply:
            asked.append(op)
            return await real(op, args, timeout)  # type: ignore[arg-type]

        driver.request = recorded  # type: ignore[method-assign]
        await driver.stop(grace=grace)
        return driver.hung, asked

    return asyncio.run(play())


def test_a_driver_whose_request_was_cut_by_a_time_limit_is_not_asked_bye() -> None:
    async def cut(driver: driver_module.DriverProcess) -> None:
        try:
            async with asyncio.timeout(0.05):  # what library_cases._play puts around a whole case
                await driver.request("submit", {"function": "f"}, 30.0)
        except TimeoutError:
            pass

    hung, asked = _stop_after(cut, grace=0.05)
    assert asked == [], "a driver whose request was cut short was asked bye"
    assert hung


def test_a_hung_driver_is_not_asked_bye_when_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_module, "GRACE", 0.2)

    async def cut(driver: driver_module.DriverProcess) -> None:
        with pytest.raises(driver_module.DriverBroken, match="wrote no reply to submit"):
            await driver.request("submit", {"function": "f"}, 0.1)

    hung, asked = _stop_after(cut, grace=0.1)
    assert hung
    assert asked == [], "a hung driver was asked bye"
