"""The automations inside `parcours serve`: every `tick_s`, the runtime moves the instances on
and delivery sends what is due.

The store has one writer while serving (the live loader, `collect.live.writer`): the
runtime's tick, delivery's claim and its record run through it (`writer.call`), between loads;
the providers' I/O (`Delivery.send`) runs in a worker thread, so a slow SMTP server never
holds the loader. At start, `Delivery.reconcile` makes due again what a crash left `sending`:
it goes out with the same key. At shutdown the round in progress finishes (its outcomes are
recorded) before the writer stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from parcours.automations.channels import Channel, Outcome
from parcours.automations.clock import Clock, SystemClock
from parcours.automations.delivery import Delivery
from parcours.automations.settings import automation_settings
from parcours.serving.deps import StoreWriter
from parcours.store.store import Store

log = logging.getLogger(__name__)

STOP_WAIT_S = 30.0
"""How long a shutdown waits for the round in progress (a provider's timeout is 10 s)."""


def make_runtime(store: Store, clock: Clock) -> Any | None:
    """The runtime (automations.runtime), when this build has it."""
    try:
        from parcours.automations import runtime  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    return runtime.Runtime(store, clock=clock)


class AutomationLoop:
    """Runs the runtime and delivery in the background of an asyncio server."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        clock: Clock | None = None,
        channels: dict[str, Channel] | None = None,
        tick_s: float | None = None,
    ) -> None:
        self.writer, self.clock, self.channels = writer, clock or SystemClock(), channels
        self.tick_s = tick_s
        self.runtime: Any | None = None
        self.delivery: Delivery | None = None
        self.rounds = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending: asyncio.Task[list[Outcome]] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="automations")

    async def stop(self) -> None:
        """Let the round in progress finish, then stop."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT_S)
        except TimeoutError:
            # Its sends stay `sending`: the next start sends them again, with the same key.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _setup(self, store: Store) -> int:
        self.delivery = Delivery(store, clock=self.clock, channels=self.channels)
        self.runtime = make_runtime(store, self.clock)
        if self.tick_s is None:
            self.tick_s = automation_settings(store.settings).tick_s
        return self.delivery.reconcile()

    async def _run(self) -> None:
        try:
            again = await self.writer.call(self._setup)
        except Exception:
            log.exception("automations could not start; the server runs without them")
            return
        if again:
            log.info("%d sends interrupted by the last stop go out again, same keys", again)
        while not self._stopping.is_set():
            busy = False
            try:
                busy = await self.round()
            except Exception:
                log.exception("an automations round failed; the next one tries again")
            self.rounds += 1
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.tick_s)
        await self._finish_sending()

    def after_load(self) -> None:
        """From the loader, right after a load's events are resolved (the live writer's
        `on_loaded`): a tick in the same turn of the store's one writer. Under heavy traffic
        the loop's own tick waits behind every load and resolve queued meanwhile (a tick every
        three seconds at 10,000 events a second); this one starts a live event's automation
        with the load that brought it."""
        if self.runtime is None:
            return
        try:
            self.runtime.tick()
        except Exception:
            log.exception("an automations tick after a load failed; the loop's next one retries")

    async def round(self) -> bool:
        """One tick and one batch claimed; whether a full batch was (more may be due).

        Sending is pipelined: the batch claimed now goes to the providers (a worker thread)
        while the next round ticks and claims; its outcomes are recorded when the next batch
        is ready, or at stop. A batch is claimed (`sending`) before it is handed over, so a
        crash at any point leaves it to `reconcile`."""
        delivery = self.delivery
        assert delivery is not None
        await self._tick()
        # Nothing due: a read, which leaves the server's change count (and snapshots) alone.
        due = await self.writer.call(lambda _: delivery.has_due(), writes=False)
        outgoing = await self.writer.call(lambda _: delivery.claim()) if due else []
        await self._finish_sending()
        if outgoing:
            self._sending = asyncio.create_task(asyncio.to_thread(delivery.send, outgoing))
        return len(outgoing) >= delivery.settings.send_batch

    async def _finish_sending(self) -> None:
        """Wait for the batch with the providers, and record its outcomes."""
        sending, self._sending = self._sending, None
        if sending is None or self.delivery is None:
            return
        delivery = self.delivery
        outcomes = await sending
        await self.writer.call(lambda _: delivery.record(outcomes))

    async def _tick(self) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        # Events loaded but not yet resolved are resolved first: the runtime reads new
        # events with their customers, and must not pass over one still without.
        catch_up = getattr(self.writer, "announce_now", None)

        def tick(_: Store) -> Any:
            if catch_up is not None:
                catch_up()
            return runtime.tick()

        # A tick with nothing to do writes nothing: run as a read, so that it leaves the
        # server's change count (which read commands' snapshots follow) alone; one that
        # did something bumps the count after.
        report = await self.writer.call(tick, writes=False)
        if _did_something(report):
            await self.writer.call(lambda _: None)


def _did_something(report: Any) -> bool:
    """Whether a tick's report (automations.runtime.TickReport) says it changed anything."""
    try:
        facts = report.to_dict()
    except AttributeError:
        return True
    return any(value for name, value in facts.items() if name != "seconds")
