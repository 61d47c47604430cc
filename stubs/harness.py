"""``StubHA``: the real-HA harness's verbs (../shared/harness ``PyscriptHA``) on a ``PyscriptEnv``.

So one plant (tests/plant.py) drives the app in the stubs and in real Home Assistant. The verbs
are coroutines like the harness's, but nothing in them ever waits: ``run(coro)`` finishes one at
once, which lets the stub tests stay plain functions. Two stub-only extras, because the stubs can
do what the harness cannot: ``mock_service(..., handler=)`` answers a call inline, as an
integration does inside the service call (it may raise into a blocking caller, like Wallbox's 429), and ``advance(..., before_timers=)``
delivers something at the new second before the timers due then fire.
"""

from __future__ import annotations

import inspect
import logging
from datetime import timedelta

from .env import LOGGER_PATH, PyscriptEnv, _json_copy


def run(coro):
    """The result of a coroutine that never waits (every StubHA verb, and a plant built on them)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a StubHA coroutine waited: nothing in the stubs can wake it")


class ServiceCall:
    """What the harness's ``mock_service`` list holds (homeassistant.core.ServiceCall): domain, service, data."""

    def __init__(self, domain, service, data):
        self.domain, self.service, self.data = domain, service, data


class StubHA:
    """``PyscriptHA``'s verbs: start, mock_service, set_state, state, attrs, call, advance,
    log_records, errors, assert_no_errors; ``env`` is the PyscriptEnv underneath (reload, restart)."""

    inline_handlers = True  # mock_service takes handler= (the harness's does not)

    def __init__(self, clock, app_config=None, restore=None, app_name="wallbox_balancer"):
        self.clock = clock  # freezegun's factory, as the harness's ``clock``
        self.app_name = app_name
        self.env = PyscriptEnv(app_config, app_name=app_name, restore=restore)

    async def start(self, apps=None, restore=None, **options):
        """Load and start the app; ``apps``/``restore`` (a dict, as PyscriptEnv takes) replace the
        constructor's. Like the harness, persistent_notification exists unless a test mocked it."""
        if apps is not None:
            self.env.app_config = _json_copy(apps.get(self.app_name))
        if restore:
            self.env._restore.update({eid: (str(v[0]), dict(v[1])) for eid, v in restore.items()})
            self.env._restore_pyscript_states()
        if not self.env.has_service("persistent_notification", "create"):
            self.env.register_service("persistent_notification", "create")
        self.env.load_app()
        self.env.start()

    def mock_service(self, domain, service, description=None, handler=None, raise_exception=None,
                     response=None, supports_response=None):
        """A fake service; returns the live list of ServiceCall it receives (recorded first, then
        ``raise_exception`` raised, as HA's async_mock_service does; then ``handler(call)``).

        ``response`` is what the service answers (async_mock_service's); a ``handler`` that returns
        something other than None answers that instead. ``supports_response`` ("none", "optional",
        "only"): by default "optional" with a ``response``, else "none", as async_mock_service."""
        calls = []

        def serve(**data):
            call = ServiceCall(domain, service, data)
            calls.append(call)
            if raise_exception is not None:
                raise raise_exception
            answer = response
            if handler is not None:
                result = handler(call)
                if inspect.iscoroutine(result):
                    result = run(result)
                if result is not None:
                    answer = result
            return answer

        if supports_response is None:
            supports_response = "optional" if response is not None else "none"
        self.env.register_service(domain, service, serve, supports_response=str(getattr(supports_response, "value", supports_response)))
        return calls

    async def set_state(self, entity_id, state, **attributes):
        self.env.set_state(entity_id, state, **attributes)

    def state(self, entity_id):
        st = self.env._get(entity_id)
        return None if st is None else st.state

    def attrs(self, entity_id):
        st = self.env._get(entity_id)
        return {} if st is None else dict(st.attributes)

    async def call(self, domain, service, data=None, **kwargs):
        self.env.call_service(domain, service, **(data or {}))

    async def advance(self, seconds, step=1.0, before_timers=None):
        """Move the clock in ``step`` increments, firing due time triggers at each; ``before_timers``
        (stub only, a coroutine function) runs at each new second before they fire."""
        remaining = float(seconds)
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.tick(timedelta(seconds=delta))
            if before_timers is not None:
                await before_timers()
            self.env.run_time_triggers()
            remaining -= delta

    def log_records(self, level=logging.WARNING, logger=LOGGER_PATH):
        """Records at >= level from ``logger`` and its children (logger="" = all), as LogRecords."""
        return [logging.makeLogRecord({"name": name, "levelname": lvl, "levelno": logging.getLevelName(lvl), "msg": msg})
                for lvl, name, msg in self.env.logs
                if logging.getLevelName(lvl) >= level and (not logger or name == logger or name.startswith(logger + "."))]

    def errors(self, level=logging.WARNING, logger=LOGGER_PATH):
        return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.log_records(level, logger)]

    def assert_no_errors(self, level=logging.WARNING, logger=LOGGER_PATH):
        problems = self.errors(level, logger)
        assert not problems, "pyscript logged:\n" + "\n".join(problems)
