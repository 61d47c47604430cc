"""``PyscriptEnv``: a single-threaded stand-in for Home Assistant 2025.12.1 + pyscript 1.7.0.

It runs THE REAL app file (``exec`` in a fresh global context with the pyscript globals injected)
and drives it through its triggers. It models only what the app, the tests and the simulator use;
anything else raises ``StubLimitation`` (or AttributeError), so a new use is noticed, not faked.
Source files named in the docstrings are pyscript 1.7.0 (``custom_components/pyscript/...``) and
Home Assistant 2025.12.1 (``homeassistant/...``).

Execution model. pyscript runs every trigger action and every ``@service`` call as its own
asyncio task (``trigger.py`` ``TrigInfo.call_action``). Here such a run is queued and the queue is
drained before the env call that caused it returns, in FIFO order; a run started while app code is
running (the app sets a watched state) happens after the running function returns, as a task
would. Blocking service calls run inline. Nothing ever waits.

Clock. The env does not own time: ``now()`` is ``datetime.now(timezone.utc)``, so freezegun drives
it. After moving the clock, call ``run_time_triggers()``. Local time is taken to be UTC.
"""

from __future__ import annotations

import inspect
import json
import linecache
import math
import os
import re
import sys
import traceback
from collections import deque
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import compat
from .errors import FATAL, StubLimitation
from .ha import (
    MAX_LENGTH_STATE_STATE, STATE_UNAVAILABLE, VALID_ENTITY_ID, HomeAssistantError, HState, Invalid,
    InvalidEntityFormatError, InvalidStateError, ServiceNotFound, ServiceValidationError, StateVal,
    repr_helper,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP = "pyscript/apps/wallbox_balancer/__init__.py"
LOGGER_PATH = "custom_components.pyscript"  # const.py LOGGER_PATH
# eval.py TRIGGER_KWARGS: trigger kwargs a function may leave undeclared
TRIGGER_KWARGS = frozenset({
    "context", "event_type", "old_value", "payload", "payload_obj", "qos", "retain", "topic",
    "trigger_type", "trigger_time", "var_name", "value", "webhook_id",
})
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_MAX_RUNS_PER_DRAIN = 200_000
_SIGNATURES = {}  # code object -> what _invoke needs of its signature
_PERIOD = re.compile(r"period\(\s*(midnight|now)\s*,\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min)?\s*\)$")


def _json_copy(value):
    return None if value is None else json.loads(json.dumps(value))


class _Ctx:
    """pyscript global_ctx.py GlobalContext for ``apps.<app_name>``."""

    def __init__(self, name):
        self.name = name
        self.globals = {}
        self.trigs = []
        self.started = False
        self.alive = True


class _Trig:
    """One trigger decorator (pyscript creates one TrigInfo per decorator) or one @service name.

    kind "state": ``spec`` is the watched entity; kind "time": ``spec`` is "startup", "shutdown"
    or a ``period(midnight|now, N s|min)`` with its ``period``; kind "service": "pyscript.<name>".
    """

    def __init__(self, ctx, fn, kind, spec, period=None):
        self.ctx, self.fn, self.kind, self.spec = ctx, fn, kind, spec
        self.period = period  # (start 'midnight'|'now', seconds) of a period() time trigger
        self.next_due = None
        self.startup_time = None
        self.active = False


# --------------------------------------------------------------------------- the environment
class PyscriptEnv:
    """Home Assistant + pyscript for one app. See the module docstring and stubs/README.md."""

    def __init__(self, app_config=None, app_name="wallbox_balancer", restore=None, *,
                 pyscript_dir=None, allow_all_imports=False, log_level="DEBUG"):
        self.app_name = app_name
        self.app_config = _json_copy(app_config)
        self.allow_all_imports = allow_all_imports
        self.pyscript_dir = Path(pyscript_dir or REPO_ROOT / "pyscript").resolve()
        self.log_level = _LEVELS[log_level]
        self.calls = []          # every service call the app made: dict(domain, service, data, blocking)
        self.logs = []           # (levelname, logger_name, message)
        self._states = {}
        self._services = {}      # domain -> name -> (handler, schema, calls, app function or None)
        self._supports_response = {}  # (domain, name) -> "none" | "optional" | "only" (HA SupportsResponse)
        self._restore = {eid: (str(v[0]), dict(v[1] or {})) if isinstance(v, (tuple, list)) else (str(v), {})
                         for eid, v in (restore or {}).items()}
        self._persisted = set()
        self._app_created = set()
        self._numbers = {}
        self._switches = {}
        self._watch = {}
        self._timers = []
        self._queue = deque()
        self._depth = 0
        self._stack = []
        self._fatal = []
        self._ctx = None
        self._app_path = None
        self._app_path_str = None
        self._finder = compat.install_finder()
        modules = self.pyscript_dir / "modules"
        self._finder.add_dir(modules)
        self._finder.allow_all_imports = allow_all_imports
        self._finder.print_hook = self._module_print
        if str(modules) not in sys.path:
            sys.path.insert(0, str(modules))
        self._restore_pyscript_states()

    # ------------------------------------------------------------------ clock & logging
    @staticmethod
    def now():
        """Aware UTC now; freezegun controls it."""
        return datetime.now(timezone.utc)

    def _log(self, level, logger, msg):
        if _LEVELS[level] >= self.log_level:
            self.logs.append((level, logger, msg))

    def errors(self, level="WARNING"):
        """Messages logged at or above ``level``."""
        floor = _LEVELS[level]
        return [msg for lvl, _, msg in self.logs if _LEVELS[lvl] >= floor]

    def assert_no_errors(self, level="WARNING"):
        floor = _LEVELS[level]
        bad = [f"{lvl} {name}: {msg}" for lvl, name, msg in self.logs if _LEVELS[lvl] >= floor]
        if bad:
            raise AssertionError(f"{len(bad)} log record(s) at {level} or above:\n" + "\n".join(bad))

    def _limit(self, msg):
        """Create (and remember) a StubLimitation so it is re-raised even if the app swallows it."""
        exc = StubLimitation(msg)
        self._fatal.append(exc)
        return exc

    def _app_log(self, ctx, level, msg, args):
        """pyscript's log.* are bound logging.Logger methods of the running function's logger."""
        if _LEVELS[level] < self.log_level:
            return
        text = str(msg)
        if args:
            try:
                text = text % args
            except Exception as exc:  # logging prints "--- Logging error ---" and goes on
                text = f"--- Logging error --- {msg!r} % {args!r}: {type(exc).__name__}: {exc}"
        name = f"{LOGGER_PATH}.{ctx.name}"
        if self._stack and self._stack[-1][0] is ctx:
            name += "." + self._stack[-1][1]
        self.logs.append((level, name, text))

    def _module_print(self, *args, **kwargs):
        ctx = self._stack[-1][0] if self._stack else self._ctx
        if ctx is not None and args:
            self._app_log(ctx, "DEBUG", args[0], args[1:])

    # ------------------------------------------------------------------ HA state machine
    def _get(self, entity_id):
        """States.get (falls back to the lower-cased id)."""
        st = self._states.get(entity_id)
        return st if st is not None else self._states.get(entity_id.lower())

    def _async_set(self, entity_id, new_state, attributes):
        """core.py States.async_set, then pyscript's state_changed listener.

        Same state and same attributes: only last_reported moves, no state_changed event.
        Attributes-only change: last_updated/last_reported move, last_changed stays.
        """
        entity_id = entity_id.lower()
        if len(new_state) > MAX_LENGTH_STATE_STATE:
            raise InvalidStateError(f"Invalid state with length {len(new_state)}. State max length is 255 characters.")
        old = self._states.get(entity_id)
        now = self.now()
        if old is None:
            if not VALID_ENTITY_ID.match(entity_id):
                raise InvalidEntityFormatError(
                    f"Invalid entity id encountered: {entity_id}. Format should be <domain>.<object_id>")
            new = HState(entity_id, new_state, attributes, now, now, now)
        else:
            if old.state == new_state and old.attributes == attributes:
                old.last_reported = now
                return
            new = HState(entity_id, new_state, attributes,
                         old.last_changed if old.state == new_state else now, now, now)
        self._states[entity_id] = new
        self._notify_state(entity_id, new, old)

    def _notify_state(self, entity_id, new, old):
        """pyscript state_changed + trigger.py: "d.e" fires when the state string changes
        (creation and removal included), not on attribute-only changes."""
        if (new and new.state) != (old and old.state):
            for trig in self._watch.get(entity_id, ()):
                self._queue.append((trig.ctx, trig.fn, {
                    "trigger_type": "state", "var_name": entity_id, "context": None,
                    "value": StateVal(new) if new else None, "old_value": StateVal(old) if old else None}))

    def set_state(self, entity_id, value, /, **attributes):
        """hass.states.async_set(entity_id, str(value), attributes): attributes are replaced."""
        self._async_set(entity_id, str(value), attributes)
        self._drain()

    def remove_state(self, entity_id):
        """hass.states.async_remove: the entity disappears; state triggers run with value=None."""
        old = self._states.pop(entity_id.lower(), None)
        if old is not None:
            self._notify_state(entity_id.lower(), None, old)
        self._drain()
        return old is not None

    def get_state(self, entity_id):
        st = self._get(entity_id)
        return StateVal(st) if st is not None else None

    def _restore_pyscript_states(self):
        """pyscript __init__.py restore_state: every pyscript.* entry of the restore cache is set."""
        for eid, (state, attrs) in self._restore.items():
            if eid.startswith("pyscript."):
                self._async_set(eid, state, dict(attrs))

    # ------------------------------------------------------------------ HA service registry
    def register_service(self, domain, name, handler=None, *, schema=None, calls=None, supports_response="none"):
        """hass.services.async_register. ``handler(**data)`` may raise; what it returns is the
        service's response (HA's ServiceResponse, a dict), for a service that supports one.

        ``schema(data) -> data`` runs before blocking/non-blocking is decided (raise ``stubs.Invalid``).
        ``supports_response``: "none", "optional" or "only" (HA's SupportsResponse values).
        Returns the list that records every call: dict(domain=, service=, data=, blocking=).
        """
        if supports_response not in ("none", "optional", "only"):
            raise ValueError(f"supports_response must be none, optional or only, got {supports_response!r}")
        calls = [] if calls is None else calls
        self._services.setdefault(domain.lower(), {})[name.lower()] = (handler, schema, calls, None)
        self._supports_response[(domain.lower(), name.lower())] = supports_response
        return calls

    def remove_service(self, domain, name):
        """hass.services.async_remove."""
        self._services.get(domain.lower(), {}).pop(name.lower(), None)
        self._supports_response.pop((domain.lower(), name.lower()), None)

    def supports_response(self, domain, name):
        """core.py ServiceRegistry.supports_response: a KeyError for an unknown domain or service."""
        self._services[domain.lower()][name.lower()]
        return self._supports_response.get((domain.lower(), name.lower()), "none")

    def has_service(self, domain, name):
        """ServiceRegistry.has_service."""
        return name.lower() in self._services.get(domain.lower(), ())

    def _hass_call(self, domain, name, data, blocking=False, from_app=True, return_response=False):
        """core.py ServiceRegistry.async_call.

        Unknown service -> ServiceNotFound. A response asked without blocking, or of a service
        that gives none, or not asked of a service that only gives one -> ServiceValidationError
        (HA's translation key as the message). The schema runs next and raises to the caller
        whatever ``blocking`` is. Then the call is recorded and executed: blocking -> handler
        exceptions propagate, and with ``return_response`` the handler's dict is returned (anything
        else: HomeAssistantError "service_reponse_invalid", HA's spelling); non-blocking -> the
        caller gets None and an exception is only logged (ERROR "homeassistant.core": "Error
        executing service: ...").
        """
        domain, name = domain.lower(), name.lower()
        if name not in self._services.get(domain, ()):
            raise ServiceNotFound(domain, name)
        handler, schema, calls, app_fn = self._services[domain][name]
        supports = self._supports_response.get((domain, name), "none")
        if return_response:
            if not blocking:
                raise ServiceValidationError(translation_domain="homeassistant", translation_key="service_should_be_blocking")
            if supports == "none":
                raise ServiceValidationError(translation_domain="homeassistant", translation_key="service_does_not_support_response")
        elif supports == "only":
            raise ServiceValidationError(translation_domain="homeassistant", translation_key="service_lacks_response_request")
        data = dict(data)
        processed = schema(dict(data)) if schema is not None else data
        record = {"domain": domain, "service": name, "data": data, "blocking": blocking}
        calls.append(record)
        if from_app:
            self.calls.append(record)
        if app_fn is not None:  # eval.py pyscript_service_handler
            run = (self._ctx, app_fn, {"trigger_type": "service", "context": None, **processed})
            if blocking:
                self._invoke(*run)
            else:
                self._queue.append(run)
            self._drain()
        elif blocking:
            response = handler(**processed) if handler is not None else None
            if not return_response:
                return None
            if not isinstance(response, dict):
                raise HomeAssistantError(translation_domain="homeassistant", translation_key="service_reponse_invalid")
            return response
        elif handler is not None:
            try:
                handler(**processed)
            except FATAL:
                raise
            except Exception as exc:
                call_repr = f"<ServiceCall {domain}.{name} (c:stub)" + (f": {repr_helper(processed)}>" if processed else ">")
                self._log("ERROR", "homeassistant.core", f"Error executing service: {call_repr}\n{type(exc).__name__}: {exc}")

    def call_service(self, domain, name, **data):
        """A blocking call from outside the app (UI, automation) the way HA does; not in ``calls``."""
        try:
            self._hass_call(domain, name, data, True, from_app=False)
        except FATAL:
            self._queue.clear()
            raise
        self._drain()

    # ------------------------------------------------------------------ fake entities
    @staticmethod
    def _entity_schema(extra_keys=()):
        """cv.make_entity_service_schema: entity_id (comma string or list, lower-cased), no extra keys."""
        def schema(data):
            for key in data:
                if key != "entity_id" and key not in extra_keys:
                    raise Invalid(f"extra keys not allowed @ data['{key}']")
            ids = data.get("entity_id", [])
            ids = [part.strip() for part in ids.split(",")] if isinstance(ids, str) else ids
            for eid in ids:
                if not VALID_ENTITY_ID.match(str(eid).lower()):
                    raise Invalid(f"Entity ID {eid} is an invalid entity ID for dictionary value @ data['entity_id']")
            data["entity_id"] = [str(eid).lower() for eid in ids]
            return data
        return schema

    def _targets(self, registry, entity_ids):
        """helpers/service.py entity_service_call: missing entities -> WARNING; unavailable ones skipped silently."""
        missing = [e for e in entity_ids if e not in registry or e not in self._states]
        if missing:
            self._log("WARNING", "homeassistant.helpers.service",
                      f"Referenced entities {', '.join(sorted(missing))} are missing or not currently available")
        return [e for e in entity_ids if e not in missing and self._states[e].state != STATE_UNAVAILABLE]

    def register_number_entity(self, entity_id, min=6, max=32, value=16, handler=None, *,  # noqa: A002
                               step=1, mode="auto", **attributes):
        """A number entity plus ``number.set_value`` (components/number/__init__.py async_set_value).

        Data: ``value`` required, coerced to float (else ``stubs.Invalid``). Per target entity:
        unavailable -> skipped silently; outside [min, max] -> ServiceValidationError
        "Value 40.0 for number.x is outside valid range 6 - 32."; then ``handler(entity_id=, value=)``
        if given: it may raise (e.g. HomeAssistantError("too_many_requests") for Wallbox's 429)
        or return False (accepted, no effect); otherwise the state becomes ``str(value)`` ("16.0").
        Returns the number.set_value call list.
        """
        eid = entity_id.lower()
        self._numbers[eid] = (min, max, handler)
        if not self.has_service("number", "set_value"):
            base = self._entity_schema(("value",))

            def schema(data):
                data = base(data)
                try:
                    data["value"] = float(data["value"])
                except KeyError:
                    raise Invalid("required key not provided @ data['value']") from None
                except (TypeError, ValueError):
                    raise Invalid("expected float for dictionary value @ data['value']") from None
                return data

            self.register_service("number", "set_value", self._number_set_value, schema=schema)
        self._async_set(eid, str(float(value)), {"min": min, "max": max, "step": step, "mode": mode, **attributes})
        self._drain()
        return self._services["number"]["set_value"][2]

    def _number_set_value(self, entity_id, value):
        for eid in self._targets(self._numbers, entity_id):
            lo, hi, handler = self._numbers[eid]
            if value < lo or value > hi:
                raise ServiceValidationError(f"Value {value} for {eid} is outside valid range {lo} - {hi}.")
            if handler is None or handler(entity_id=eid, value=value) is not False:
                self._async_set(eid, str(value), self._states[eid].attributes)

    def register_switch_entity(self, entity_id, state="on", handler=None):
        """A switch plus switch.turn_on/turn_off (entity services, no data besides the target).

        Unavailable -> skipped silently (a Wallbox pause switch without a car). ``handler(service=,
        entity_id=)`` may raise or return False (no effect). Returns the shared call list.
        """
        self._switches[entity_id.lower()] = handler
        if not self.has_service("switch", "turn_on"):
            calls = []
            for service in ("turn_on", "turn_off"):
                def run(entity_id, _service=service):
                    for eid in self._targets(self._switches, entity_id):
                        fn = self._switches[eid]
                        if fn is None or fn(service=_service, entity_id=eid) is not False:
                            self._async_set(eid, "on" if _service == "turn_on" else "off", self._states[eid].attributes)
                self.register_service("switch", service, run, schema=self._entity_schema(), calls=calls)
        self._async_set(entity_id, str(state), {})
        self._drain()
        return self._services["switch"]["turn_on"][2]

    # ------------------------------------------------------------------ running app code
    def _drain(self):
        """Run queued actions (each one a pyscript task) until none are left."""
        if self._depth:
            return
        self._depth += 1
        try:
            for _ in range(_MAX_RUNS_PER_DRAIN):
                if not self._queue:
                    break
                self._invoke(*self._queue.popleft())
            else:
                raise RuntimeError("runaway trigger loop: more than %d actions in one env call" % _MAX_RUNS_PER_DRAIN)
        except BaseException:
            self._queue.clear()
            self._fatal.clear()
            raise
        finally:
            self._depth -= 1
        if self._fatal:
            exc = self._fatal[0]
            self._fatal.clear()
            raise exc

    def _invoke(self, ctx, fn, kwargs):
        """Run one pyscript function like trigger.py do_func_call / eval.py EvalFunc.call.

        Undeclared TRIGGER_KWARGS are dropped; other unknown or missing arguments are a TypeError
        logged by function.py run_coro. Exceptions are logged at ERROR on the function's logger as
        "Exception in <apps.APP.FUNC> line N:\\n    <code>\\n    ^\\nType: msg" and not raised.
        """
        name = fn.__name__
        sig = _SIGNATURES.get(fn.__code__)
        if sig is None:  # (parameter names, required names, takes **kwargs), once per function
            params = inspect.signature(fn).parameters.values()
            sig = _SIGNATURES[fn.__code__] = (
                {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)},
                [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)],
                any(p.kind is p.VAR_KEYWORD for p in params))
        params, required, var_kw = sig
        if var_kw:
            call_kwargs = kwargs
        else:
            call_kwargs = {k: v for k, v in kwargs.items() if k in params}
            unexpected = sorted(k for k in kwargs if k not in params and k not in TRIGGER_KWARGS)
            missing = [k for k in required if k not in call_kwargs]
            problem = (f"{name}() called with unexpected keyword arguments: {', '.join(unexpected)}" if unexpected
                       else f"{name}() missing {len(missing)} required arguments: {', '.join(missing)}" if missing
                       else None)
            if problem:
                self._log("ERROR", f"{LOGGER_PATH}.function",
                          f"run_coro: got exception Traceback (most recent call last):\nTypeError: {problem}")
                return
        self._stack.append((ctx, name))
        self._depth += 1
        try:
            fn(**call_kwargs)
        except FATAL:
            raise
        except Exception as exc:
            label = f"{ctx.name}.{name}"
            self._log("ERROR", f"{LOGGER_PATH}.{label}", self._format_exc(label, exc))
        finally:
            self._depth -= 1
            self._stack.pop()

    def _format_exc(self, label, exc):
        """eval.py AstEval.format_exc, at the innermost line of pyscript code (app or modules)."""
        for fs in reversed(traceback.extract_tb(exc.__traceback__)):
            if fs.filename == self._app_path_str or self._finder.owns(fs.filename):
                code = linecache.getline(fs.filename, fs.lineno).rstrip("\n")
                mesg = f"Exception in <{label}> line {fs.lineno}:\n    {code}\n"
                if getattr(fs, "colno", None) is not None:
                    mesg += "    " + " " * fs.colno + "^\n"
                return mesg + f"{type(exc).__name__}: {exc}"
        return f"Exception in <{label}>:\n{type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ triggers
    def _add_trig(self, trig):
        """global_ctx.py trigger_register: start now if the context runs, else at start()."""
        trig.ctx.trigs.append(trig)
        if trig.ctx.started:
            self._activate(trig)

    def _activate(self, trig):
        """TrigInfo.start: watch the state, schedule the period, queue "startup"."""
        if trig.active or trig.kind == "service":
            return
        trig.active = True
        if trig.kind == "state":
            self._watch.setdefault(trig.spec, []).append(trig)
        elif trig.spec == "startup":
            self._queue.append((trig.ctx, trig.fn, {"trigger_type": "time", "trigger_time": "startup"}))
        elif trig.period is not None:
            trig.startup_time = self.now().replace(tzinfo=None)
            trig.next_due = self._next_due(trig, trig.startup_time, first=True)
            self._timers.append(trig)

    def _deactivate(self, trig):
        trig.active = False
        if trig in self._watch.get(trig.spec, ()):
            self._watch[trig.spec].remove(trig)
        if trig in self._timers:
            self._timers.remove(trig)

    @staticmethod
    def _next_due(trig, now, first=False):
        """trigger.py TrigTime.timer_trigger_next for period(start, interval) without an end: the
        next start + k * interval after ``now``; ``now`` itself only on the trigger task's first
        loop when it is exactly the start (period(now, ...) fires at once)."""
        start_kind, period = trig.period
        start = trig.startup_time if start_kind == "now" else now.replace(hour=0, minute=0, second=0, microsecond=0)
        if first and now == start:
            return start
        return start + timedelta(seconds=period * (1.0 + math.floor((now - start).total_seconds() / period)))

    def run_time_triggers(self):
        """Run every active period trigger whose next due time <= now, once each, in due-time order.

        Each gets trigger_time = its due time (naive local datetime, as pyscript passes it); its
        next due time is computed from the current time, so a clock jump over several periods
        fires it once (as a woken pyscript trigger task does).
        """
        now = self.now().replace(tzinfo=None)
        for trig in sorted((t for t in self._timers if t.next_due <= now), key=lambda t: t.next_due):
            self._queue.append((trig.ctx, trig.fn, {"trigger_type": "time", "trigger_time": trig.next_due}))
            trig.next_due = self._next_due(trig, now)
        self._drain()

    def trigger_functions(self):
        """(kind, spec, function_name) for every registration of the current app context."""
        ctx = self._ctx
        return [(t.kind, t.spec, t.fn.__name__) for t in ctx.trigs] if ctx is not None and ctx.alive else []

    # ------------------------------------------------------------------ app lifecycle
    def load_app(self, path=None):
        """global_ctx.py GlobalContextMgr.load_file for ``apps.<app_name>``.

        The old context is stopped first. Module-level code runs in a fresh global dict
        (``__name__`` = app name); triggers are registered but not started until ``start()``.
        An exception in module-level code is logged ("Exception in <PATH> line N: ...") and the
        context is stopped, as pyscript does. Returns the context's globals.
        """
        path = Path(path or self._app_path or DEFAULT_APP)
        path = (path if path.is_absolute() else REPO_ROOT / path).resolve()
        self._app_path, self._app_path_str = path, str(path)
        reloading = self._ctx is not None
        if reloading and self._ctx.alive:
            self._stop_ctx(self._ctx)
        ctx = self._ctx = _Ctx(f"apps.{self.app_name}")
        ctx.globals = self._make_globals(ctx)
        source = path.read_text(encoding="utf-8")
        compat.check_source(source, str(path), self._finder.is_pyscript_module)
        self._finder.print_hook = self._module_print
        self._depth += 1
        try:
            exec(compile(source, str(path), "exec"), ctx.globals)  # noqa: S102
        except FATAL:
            self._queue.clear()
            raise
        except Exception as exc:
            self._log("ERROR", f"{LOGGER_PATH}.{ctx.name}", self._format_exc(str(path), exc))
            self._stop_ctx(ctx)
        else:
            self._log("INFO", f"{LOGGER_PATH}.global_ctx", f"{'Reloaded' if reloading else 'Loaded'} {path}")
        finally:
            self._depth -= 1
        self._drain()
        return ctx.globals

    def start(self):
        """EVENT_HOMEASSISTANT_STARTED: start the app's triggers; "startup" time triggers run."""
        ctx = self._ctx
        if ctx is not None and ctx.alive and not ctx.started:
            ctx.started = True
            for trig in list(ctx.trigs):
                self._activate(trig)
        self._drain()
        self.run_time_triggers()  # period(now, ...) is due at once

    def _stop_ctx(self, ctx):
        """GlobalContext.stop: cancel triggers, remove @service services, then run "shutdown"
        time triggers (also of triggers that never started)."""
        ctx.alive = ctx.started = False
        trigs, ctx.trigs = ctx.trigs, []
        for trig in trigs:
            self._deactivate(trig)
            if trig.kind == "service":
                self.remove_service(*trig.spec.split(".", 1))
            elif trig.spec == "shutdown":
                self._queue.append((ctx, trig.fn, {"trigger_type": "time", "trigger_time": "shutdown"}))
        self._drain()

    def reload(self, app_config=None):
        """pyscript.reload of this app (file or yaml entry changed).

        Old context: shutdown triggers run, triggers and @service services go away; the file is
        exec'd again in a new context (``app_config`` replaces the config if given) and started at
        once. HA states, pyscript.* included, are untouched.
        """
        if app_config is not None:
            self.app_config = _json_copy(app_config)
        globals_ = self.load_app(self._app_path)
        self.start()
        return globals_

    def restart(self, app_config=None, start=True, fresh_modules=False):
        """Home Assistant restart.

        1. EVENT_HOMEASSISTANT_STOP: the app is unloaded (shutdown triggers run).
        2. The restore cache is written like helpers/restore_state.py: persisted pyscript.* states
           that exist, plus older cache entries for ids not present.
        3. New process: pyscript restores every pyscript.* entry of the cache with fresh
           timestamps. States the app created outside pyscript.* are gone. Every other entity is
           'unavailable' with attributes {"restored": True, ...} (entity_registry.py
           write_unavailable_state: a number's min/max/step/mode, device_class, friendly_name,
           icon, unit_of_measurement, supported_features) until the test sets it again.
        4. With ``fresh_modules`` the pyscript/modules modules are dropped from sys.modules, as a
           new process would (off by default: tests holding the old module objects would see two
           versions of each class).
        5. The app is loaded and, if ``start``, started. Fake services stay registered.
        """
        if self._ctx is not None and self._ctx.alive:
            self._stop_ctx(self._ctx)
        current = {eid: st for eid, st in self._states.items() if not st.attributes.get("restored")}
        cache = {eid: (current[eid].state, dict(current[eid].attributes)) for eid in self._persisted if eid in current}
        cache.update({eid: v for eid, v in self._restore.items() if eid not in current and eid not in cache})
        old_states, self._restore, self._states = self._states, cache, {}
        self._watch, self._timers, self._persisted = {}, [], set()
        self._restore_pyscript_states()
        keep = ("device_class", "friendly_name", "icon", "unit_of_measurement", "supported_features")
        keep_number = ("min", "max", "step", "mode")
        for eid, st in old_states.items():
            if not eid.startswith("pyscript.") and eid not in self._app_created:
                attrs = {k: v for k, v in st.attributes.items()
                         if k in keep or (eid in self._numbers and k in keep_number)}
                self._async_set(eid, STATE_UNAVAILABLE, {"restored": True, **attrs})
        self._app_created = set()
        for name, mod in list(sys.modules.items()) if fresh_modules else ():
            filename = getattr(mod, "__file__", None)
            if filename and self._finder.owns(os.path.abspath(filename)):
                del sys.modules[name]
        if app_config is not None:
            self.app_config = _json_copy(app_config)
        if self._app_path is not None:
            self._ctx = None
            self.load_app(self._app_path)
            if start:
                self.start()

    def _make_globals(self, ctx):
        from .globals_ import make_globals

        return make_globals(self, ctx)
