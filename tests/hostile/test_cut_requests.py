"""A driver whose request is cut short from outside (a case's time limit) is stopped at once, not asked bye.

Its replies come in order: the reply to ``bye`` would come after the one it
never wrote, so asking cost every timed-out case GRACE + 0.5 s more (7.5 s
past ``--driver-time-limit`` with the stop's own grace, per case, for a
driver that never answers).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gearsim.io import driver as driver_module

BAD = Path(__file__).resolve().parents[1] / "data" / "drivers" / "bad_driver.py"


def test_a_driver_whose_request_was_cut_by_a_time_limit_is_not_asked_bye() -> None:
    async def play() -> tuple[bool, list[str]]:
        driver = await driver_module.DriverProcess.start([sys.executable, str(BAD), "hang"], "c")
        await driver.request("hello", {"protocol": driver_module.PROTOCOL, "role": "client", "servers": []}, 5.0)
        try:
            async with asyncio.timeout(0.05):  # what library_cases._play puts around a whole case
                await driver.request("submit", {"function": "f"}, 30.0)
        except TimeoutError:
            pass
        asked: list[str] = []
        real = driver.request

        async def recorded(op: str, args: object, timeout: float) -> driver_module.Reply:
            asked.append(op)
            return await real(op, args, timeout)  # type: ignore[arg-type]

        driver.request = recorded  # type: ignore[method-assign]
        await driver.stop(grace=0.05)
        return driver.hung, asked

    hung, asked = asyncio.run(play())
    assert asked == [], "a driver whose request was cut short was asked bye"
    assert hung
