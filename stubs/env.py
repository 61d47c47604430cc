"""``PyscriptEnv``: a single-threaded stand-in for Home Assistant 2025.12.1 + pyscript 1.7.0.

It runs THE REAL app file (``exec`` in a fresh global context with the pyscript globals injected)
and drives it through its triggers. Source files named in the docstrings are pyscript 1.7.0
(``custom_components/pyscript/...``) and Home Assistant 2025.12.1 (``homeassistant/...``).

Execution model. pyscript runs every trigger action and every ``@service`` call as its own
asyncio task (``trigger.py`` ``TrigInfo.call_action``). Here such a run is queued and the queue is
drained before the env call that caused it returns, in FIFO order; a run started while app code is
running (the app sets a watched state, calls its own service non-blocking, ``task.create``) happens
after the running function returns, as a task would. Blocking service calls run inline.
Nothing ever waits, so ``task.sleep``/``task.wait_until`` raise ``StubLimitation``.

Clock. The env does not own time: ``now()`` is ``datetime.now(timezone.utc)``, so freezegun drives
it. After moving the clock, call ``run_time_triggers()``. Local time is taken to be UTC.
"""

from __future__ import annotations

import inspect
import json
import linecache
import os
import re
import sys
import traceback
import weakref
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from . import compat
from .errors import FATAL, StubLimitation
from .ha import (
    MAX_LENGTH_STATE_STATE, STATE_UNAVAILABLE, STATE_VIRTUAL_ATTRS,
    VALID_ENTITY_ID, HomeAssistantError, HState, Invalid, InvalidEntityFormatError,
    InvalidStateError, ServiceNotFound, ServiceValidationError, StateVal, repr_helper,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP = "pyscript/apps/wallbox_balancer/__init__.py"
LOGGER_PATH = "custom_components.pyscript"  # const.py LOGGER_PATH

# eval.py TRIGGER_KWARGS: trigger kwargs a function may leave undeclared
TRIGGER_KWARGS = frozenset({
    "context", "event_type", "old_value", "payload", "payload_obj", "qos", "retain", "topic",
    "trigger_type", "trigger_time", "var_name", "value", "webhook_id",
})
STATE_RE = re.compile(r"\w+\.\w+(\.((\w+)|\*))?$")  # trigger.py STATE_RE
SUPPORTS_RESPONSE = ("none", "optional", "only")  # homeassistant.core.SupportsResponse
_ENTITY_FIELDS = frozenset({"entity_id", "device_id", "area_id", "floor_id", "label_id"})
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_MAX_RUNS_PER_DRAIN = 200_000


def _json_copy(value):
    return None if value is None else json.loads(json.dumps(value))


def _naive(dt):
    return dt.replace(tzinfo=None)


# --------------------------------------------------------------------------- registrations
class _Ctx:
    """pyscript global_ctx.py GlobalContext for ``apps.<app_name>``."""

    def __init__(self, name, generation):
        self.name = name
        self.generation = generation
        self.globals = {}
        self.trigs = []
        self.started = False
        self.alive = True


class _Trig:
    """One trigger decorator (pyscript creates one TrigInfo per decorator) or one @service name."""

    __slots__ = ("ctx", "ref", "func_name", "kind", "spec", "checks", "timers", "startup", "shutdown",
                 "user_kwargs", "next_due", "startup_time", "active", "__weakref__")

    def __init__(self, ctx, fn, kind, spec):
        self.ctx = ctx
        self.ref = weakref.ref(fn)
        self.func_name = fn.__name__
        self.kind = kind
        self.spec = spec
        self.checks = None
        self.timers = ()
        self.startup = self.shutdown = False
        self.user_kwargs = None
        self.next_due = None
        self.startup_time = None
        self.active = False


class _Service:
    """homeassistant.core.Service plus the call record."""

    __slots__ = ("domain", "service", "handler", "schema", "supports_response", "calls", "fields", "app")

    def __init__(self, domain, service, handler, schema, supports_response, calls, fields=None, app=None):
        self.domain, self.service, self.handler, self.schema = domain, service, handler, schema
        self.supports_response, self.calls, self.fields, self.app = supports_response, calls, fields, app


class _SigInfo:
    __slots__ = ("params", "positional", "required", "var_kw")

    def __init__(self, fn):
        self.params = set()
        self.positional = []
        self.required = []
        self.var_kw = False
        try:
            parameters = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):  # some builtins: pass everything through
            self.var_kw = True
            return
        for p in parameters:
            if p.kind is p.VAR_KEYWORD:
                self.var_kw = True
            elif p.kind is not p.VAR_POSITIONAL:
                self.params.add(p.name)
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    self.positional.append(p.name)
                if p.default is p.empty:
                    self.required.append(p.name)


def _sig_info(fn):
    info = getattr(fn, "_pyscript_sig", None)
    if info is None:
        info = _SigInfo(fn)
        try:
            fn._pyscript_sig = info
        except (AttributeError, TypeError):
            pass
    return info


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
        self.events = []         # (event_type, data) fired by the app with event.fire
        self.task_uniques = deque(maxlen=1000)  # last task.unique / @task_unique calls, see _record_unique
        self._states = {}
        self._services = {}
        self._restore = {}
        for eid, val in (restore or {}).items():
            state, attrs = val if isinstance(val, (tuple, list)) else (val, {})
            self._restore[eid] = (str(state), dict(attrs or {}))
        self._persisted = set()
        self._app_created = set()
        self._numbers = {}
        self._switches = {}
        self._watch = {}
        self._timers = []
        self._min_due = None
        self._queue = deque()
        self._depth = 0
        self._stack = []
        self._fatal = []
        self._ctx = None
        self._generation = 0
        self._started = False
        self._app_path = None
        self._unique_last = {}
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

    def _app_logger(self, ctx):
        if self._stack and self._stack[-1][0] is ctx:
            return f"{LOGGER_PATH}.{ctx.name}.{self._stack[-1][1]}"
        return f"{LOGGER_PATH}.{ctx.name}"

    def _app_log(self, ctx, level, msg, args, exc_info=False):
        """pyscript's log.* are bound logging.Logger methods of the running function's logger."""
        if _LEVELS[level] < self.log_level:
            return
        text = str(msg)
        if args:
            if len(args) == 1 and isinstance(args[0], dict) and args[0]:
                args = args[0]  # logging.LogRecord does the same
            try:
                text = text % args
            except Exception as exc:  # logging prints "--- Logging error ---" and goes on
                text = f"--- Logging error --- {msg!r} % {args!r}: {type(exc).__name__}: {exc}"
        if exc_info:
            text += "\n" + traceback.format_exc().rstrip()
        self.logs.append((level, self._app_logger(ctx), text))

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
        """core.py States.async_set / async_set_internal, then pyscript's state_changed listener.

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
            same_state = old.state == new_state
            same_attr = old.attributes == attributes
            if same_state and same_attr:
                old.last_reported = now
                return
            if same_attr:
                attributes = old.attributes
            new = HState(entity_id, new_state, attributes, old.last_changed if same_state else now, now, now)
        self._states[entity_id] = new
        watchers = self._watch.get(entity_id)
        if watchers:
            self._notify_state(entity_id, new, old, watchers)

    def _async_remove(self, entity_id):
        """core.py States.async_remove: state_changed with new_state None."""
        entity_id = entity_id.lower()
        old = self._states.pop(entity_id, None)
        if old is None:
            return False
        watchers = self._watch.get(entity_id)
        if watchers:
            self._notify_state(entity_id, None, old, watchers)
        return True

    def _notify_state(self, entity_id, new, old, watchers):
        """pyscript __init__.py state_changed + trigger.py ident_any_values_changed.

        "d.e" fires when the state string changes (attribute-only changes do not fire);
        "d.e.attr" when that attribute changes; "d.e.*" when any attribute changes (and NOT
        for a state-only change: ident_any_values_changed compares attributes only).
        """
        new_sv = StateVal(new) if new is not None else None
        old_sv = StateVal(old) if old is not None else None
        for trig in tuple(watchers):
            for check in trig.checks[entity_id]:
                if check is None:
                    hit = old_sv != new_sv
                elif check == "*":
                    names = set()
                    if new_sv is not None:
                        names |= new_sv.__dict__.keys()
                    if old_sv is not None:
                        names |= old_sv.__dict__.keys()
                    hit = any(getattr(new_sv, a, None) != getattr(old_sv, a, None) for a in names - STATE_VIRTUAL_ATTRS)
                else:
                    hit = getattr(new_sv, check, None) != getattr(old_sv, check, None)
                if hit:
                    kwargs = {"trigger_type": "state", "var_name": entity_id, "value": new_sv,
                              "old_value": old_sv, "context": None}
                    if trig.user_kwargs:
                        kwargs.update(trig.user_kwargs)
                    self._enqueue_trig(trig, kwargs)
                    break

    def set_state(self, entity_id, value, /, **attributes):
        """hass.states.async_set(entity_id, str(value), attributes): attributes are replaced."""
        self._async_set(entity_id, str(value), attributes)
        self._drain()

    def remove_state(self, entity_id):
        """hass.states.async_remove: the entity disappears; state triggers run with value=None."""
        removed = self._async_remove(entity_id)
        self._drain()
        return removed

    def get_state(self, entity_id):
        st = self._get(entity_id)
        return StateVal(st) if st is not None else None

    def _restore_pyscript_states(self):
        """pyscript __init__.py restore_state: every pyscript.* entry of the restore cache is set."""
        for eid, (state, attrs) in self._restore.items():
            if eid.startswith("pyscript."):
                self._async_set(eid, state, dict(attrs))

    # ------------------------------------------------------------------ HA service registry
    def register_service(self, domain, name, handler=None, *, schema=None, supports_response="none",
                         fields=None, calls=None):
        """hass.services.async_register. ``handler(**data)`` may raise or return a response.

        ``schema(data) -> data`` runs before blocking/non-blocking is decided (raise ``stubs.Invalid``).
        ``fields`` (a set of data keys besides entity_id) marks an entity service: pyscript then
        offers ``state.get("domain.entity.name")`` as a callable (state.py service2args).
        Returns the list that records every call: dict(domain=, service=, data=, blocking=).
        """
        if supports_response not in SUPPORTS_RESPONSE:
            raise ValueError(f"supports_response must be one of {SUPPORTS_RESPONSE}")
        calls = [] if calls is None else calls
        self._services.setdefault(domain.lower(), {})[name.lower()] = _Service(
            domain.lower(), name.lower(), handler, schema, supports_response, calls, fields)
        return calls

    def remove_service(self, domain, name):
        """hass.services.async_remove."""
        services = self._services.get(domain.lower())
        if services and services.pop(name.lower(), None) is not None and not services:
            del self._services[domain.lower()]

    def has_service(self, domain, name):
        """ServiceRegistry.has_service."""
        return name.lower() in self._services.get(domain.lower(), ())

    def _lookup_service(self, domain, name):
        svc = self._services.get(domain, {}).get(name)
        if svc is None:
            svc = self._services.get(domain.lower(), {}).get(name.lower())
        if svc is not None and svc.app is not None and svc.app[1]() is None:
            self.remove_service(domain, name)  # function garbage-collected: pyscript removes the service
            svc = None
        if svc is None:
            raise ServiceNotFound(domain, name)
        return svc

    def _hass_call(self, domain, name, data, blocking=False, return_response=False, from_app=True):
        """core.py ServiceRegistry.async_call.

        Unknown service -> ServiceNotFound; response checks and the schema run first and raise to
        the caller whatever ``blocking`` is. Then the call is recorded (EVENT_CALL_SERVICE) and
        executed: blocking -> handler exceptions propagate; non-blocking -> the caller gets None and
        an exception is only logged (ERROR "homeassistant.core": "Error executing service: ...").
        """
        svc = self._lookup_service(domain, name)
        if return_response:
            if not blocking:
                raise ServiceValidationError(
                    "A non-blocking action call with argument blocking=False can't be used together "
                    "with argument return_response=True.")
            if svc.supports_response == "none":
                raise ServiceValidationError(
                    "An action which does not return responses can't be called with return_response=True.")
        elif svc.supports_response == "only":
            raise ServiceValidationError(
                "The action requires responses and must be called with return_response=True.")
        data = dict(data)
        processed = svc.schema(dict(data)) if svc.schema is not None else data
        record = {"domain": svc.domain, "service": svc.service, "data": data, "blocking": blocking}
        svc.calls.append(record)
        if from_app:
            self.calls.append(record)
        if svc.app is not None:
            result = self._call_app_service(svc, processed, blocking)
        elif blocking:
            result = svc.handler(**processed) if svc.handler is not None else None
        else:
            if svc.handler is not None:
                try:
                    svc.handler(**processed)
                except FATAL:
                    raise
                except Exception as exc:
                    call_repr = f"<ServiceCall {svc.domain}.{svc.service} (c:stub)"
                    call_repr += f": {repr_helper(processed)}>" if processed else ">"
                    self._log("ERROR", "homeassistant.core",
                              f"Error executing service: {call_repr}\n{type(exc).__name__}: {exc}")
            return None
        if not return_response:
            return None
        if not isinstance(result, dict):
            raise HomeAssistantError(
                "Failed to process the returned action response data, expected a dictionary, "
                f"but got {type(result)}.")
        return result

    def call_service(self, domain, name, blocking=True, return_response=False, **data):
        """Call a service from outside the app (UI, automation) the way HA does; not in ``calls``."""
        try:
            result = self._hass_call(domain, name, data, blocking, return_response, from_app=False)
        except FATAL:
            self._reset_runs()
            raise
        self._drain()
        return result

    def _reset_runs(self):
        self._queue.clear()
        self._fatal.clear()

    # ------------------------------------------------------------------ fake entities
    def _entity_schema(self, extra_keys=()):
        """cv.make_entity_service_schema: entity_id via comp_entity_ids, no extra keys."""
        def schema(data):
            for key in data:
                if key not in _ENTITY_FIELDS and key not in extra_keys:
                    raise Invalid(f"extra keys not allowed @ data['{key}']")
            if "entity_id" in data:
                ids = data["entity_id"]
                if isinstance(ids, str):
                    if ids.lower() in ("all", "none"):
                        data["entity_id"] = ids.lower()
                        return data
                    ids = [part.strip() for part in ids.split(",")]
                out = []
                for eid in ids:
                    eid = str(eid).lower()
                    if not VALID_ENTITY_ID.match(eid):
                        raise Invalid(f"Entity ID {eid} is an invalid entity ID for dictionary value @ data['entity_id']")
                    out.append(eid)
                data["entity_id"] = out
            return data
        return schema

    def _targets(self, registry, entity_ids):
        """helpers/service.py entity_service_call: missing entities -> WARNING; unavailable ones skipped silently."""
        if entity_ids is None or entity_ids == "none":
            return []
        if entity_ids == "all":
            entity_ids = list(registry)
        missing = [e for e in entity_ids if e not in registry or e not in self._states]
        if missing:
            self._log("WARNING", "homeassistant.helpers.service",
                      f"Referenced entities {', '.join(sorted(missing))} are missing or not currently available")
        return [e for e in entity_ids if e in registry and e in self._states
                and self._states[e].state != STATE_UNAVAILABLE]

    def register_number_entity(self, entity_id, min=6, max=32, value=16, handler=None, *,  # noqa: A002
                               step=1, mode="auto", **attributes):
        """A number entity plus ``number.set_value`` (components/number/__init__.py async_set_value).

        Data: ``value`` required, coerced to float (else ``stubs.Invalid``). Per target entity:
        unavailable -> skipped silently; outside [min, max] -> ServiceValidationError
        "Value 40.0 for number.x is outside valid range 6 - 32."; then ``handler(entity_id=, value=)``
        if given: it may raise (e.g. HomeAssistantError("too_many_requests") for Wallbox's 429),
        return False (accepted, no effect) or a value to show; otherwise the state becomes
        ``str(value)`` ("16.0"). Calling it again updates min/max/handler and sets the state.
        Returns the number.set_value call list.
        """
        eid = entity_id.lower()
        self._numbers[eid] = (min, max, handler)
        svc = self._services.get("number", {}).get("set_value")
        if svc is None or svc.handler != self._number_set_value:
            base = self._entity_schema(("value",))

            def schema(data):
                data = base(data)
                if "value" not in data:
                    raise Invalid("required key not provided @ data['value']")
                try:
                    data["value"] = float(data["value"])
                except (TypeError, ValueError):
                    raise Invalid("expected float for dictionary value @ data['value']") from None
                return data

            calls = self.register_service("number", "set_value", self._number_set_value, schema=schema, fields={"value"})
        else:
            calls = svc.calls
        shown = str(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        self._async_set(eid, shown, {"min": min, "max": max, "step": step, "mode": mode, **attributes})
        self._drain()
        return calls

    def _number_set_value(self, entity_id=None, value=None, **_):
        for eid in self._targets(self._numbers, entity_id):
            lo, hi, handler = self._numbers[eid]
            if value < lo or value > hi:
                raise ServiceValidationError(f"Value {value} for {eid} is outside valid range {lo} - {hi}.")
            result = handler(entity_id=eid, value=value) if handler is not None else None
            if result is not False:
                self._async_set(eid, str(value if result is None else result), self._states[eid].attributes)

    def register_switch_entity(self, entity_id, state="on", handler=None, **attributes):
        """A switch plus switch.turn_on/turn_off/toggle (entity services, no data besides the target).

        Unavailable -> skipped silently (a Wallbox pause switch without a car). ``handler(service=,
        entity_id=)`` may raise or return False (no effect). Returns the shared call list.
        """
        eid = entity_id.lower()
        self._switches[eid] = handler
        svc = self._services.get("switch", {}).get("turn_on")
        if svc is None or getattr(svc.handler, "_stub_switch", False) is False:
            calls = []
            for service in ("turn_on", "turn_off", "toggle"):
                def run(entity_id=None, _service=service, **_):
                    self._switch_service(_service, entity_id)
                run._stub_switch = True
                self.register_service("switch", service, run, schema=self._entity_schema(), fields=set(), calls=calls)
        else:
            calls = svc.calls
        self._async_set(eid, str(state), attributes)
        self._drain()
        return calls

    def _switch_service(self, service, entity_ids):
        for eid in self._targets(self._switches, entity_ids):
            handler = self._switches[eid]
            if handler is not None and handler(service=service, entity_id=eid) is False:
                continue
            st = self._states[eid]
            on = service == "turn_on" or (service == "toggle" and st.state != "on")
            self._async_set(eid, "on" if on else "off", st.attributes)

    # ------------------------------------------------------------------ events
    def fire_event(self, event_type, **data):
        """hass.bus.async_fire: runs @event_trigger(event_type) functions (no expressions)."""
        self._fire_event(event_type, data)
        self._drain()

    def _fire_event(self, event_type, data):
        ctx = self._ctx
        if ctx is None or not ctx.started:
            return
        for trig in tuple(ctx.trigs):
            if trig.kind == "event" and trig.active and trig.spec[0] == event_type:
                kwargs = {"trigger_type": "event", "event_type": event_type, "context": None, **data}
                if trig.user_kwargs:
                    kwargs.update(trig.user_kwargs)
                self._enqueue_trig(trig, kwargs)

    # ------------------------------------------------------------------ running app code
    def _enqueue_trig(self, trig, kwargs):
        fn = trig.ref()
        if fn is None:  # pyscript: the trigger dies with its function object
            self._deactivate(trig)
            return
        self._queue.append((trig.ctx, fn, trig.func_name, kwargs, (), True))

    def _drain(self):
        """Run queued actions (each one a pyscript task) until none are left."""
        if self._depth:
            return
        self._depth += 1
        runs = 0
        try:
            queue = self._queue
            while queue:
                ctx, fn, name, kwargs, args, is_trigger = queue.popleft()
                self._invoke(ctx, fn, name, kwargs, args, is_trigger)
                runs += 1
                if runs > _MAX_RUNS_PER_DRAIN:
                    raise RuntimeError("runaway trigger loop: more than %d actions in one env call" % _MAX_RUNS_PER_DRAIN)
        except BaseException:
            self._reset_runs()
            raise
        finally:
            self._depth -= 1
        if self._fatal:
            exc = self._fatal[0]
            self._fatal.clear()
            raise exc

    def _bind(self, fn, name, kwargs, args):
        """eval.py EvalFunc.call: undeclared TRIGGER_KWARGS are dropped, other unknown kwargs are a TypeError."""
        info = _sig_info(fn)
        if info.var_kw:
            call_kwargs = kwargs
        else:
            call_kwargs = {}
            unexpected = []
            for key, val in kwargs.items():
                if key in info.params:
                    call_kwargs[key] = val
                elif key not in TRIGGER_KWARGS:
                    unexpected.append(key)
            if unexpected:
                raise TypeError(f"{name}() called with unexpected keyword arguments: {', '.join(sorted(unexpected))}")
        given = set(info.positional[:len(args)])
        missing = [p for p in info.required if p not in call_kwargs and p not in given]
        if missing:
            raise TypeError(f"{name}() missing {len(missing)} required arguments: {', '.join(missing)}")
        return call_kwargs

    def _invoke(self, ctx, fn, name, kwargs, args=(), is_trigger=False):
        """Run one pyscript function like trigger.py do_func_call / eval.py pyscript_service_handler.

        Exceptions are logged at ERROR on the function's logger as
        "Exception in <apps.APP.FUNC> line N:\\n    <code>\\n    ^\\nType: msg" and not raised;
        argument-binding errors are logged by function.py run_coro.
        """
        if is_trigger:
            unique = getattr(fn, "_pyscript_task_unique", None)
            if unique is not None:
                self._record_unique(ctx, name, unique[0], unique[1])
        try:
            call_kwargs = self._bind(fn, name, kwargs, args)
        except TypeError as exc:
            self._log("ERROR", f"{LOGGER_PATH}.function",
                      f"run_coro: got exception Traceback (most recent call last):\nTypeError: {exc}")
            return None
        self._stack.append((ctx, name))
        self._depth += 1
        try:
            return fn(*args, **call_kwargs)
        except FATAL:
            raise
        except Exception as exc:
            label = f"{ctx.name}.{name}"
            self._log("ERROR", f"{LOGGER_PATH}.{label}", self._format_exc(label, exc))
            return None
        finally:
            self._depth -= 1
            self._stack.pop()

    def _is_pyscript_file(self, filename):
        return filename == self._app_path_str or self._finder.owns(filename)

    def _format_exc(self, label, exc):
        """eval.py AstEval.format_exc, at the innermost line of pyscript code (app or modules)."""
        frame = None
        for fs in reversed(traceback.extract_tb(exc.__traceback__)):
            if self._is_pyscript_file(fs.filename):
                frame = fs
                break
        if frame is None:
            return f"Exception in <{label}>:\n{type(exc).__name__}: {exc}"
        code = linecache.getline(frame.filename, frame.lineno).rstrip("\n")
        mesg = f"Exception in <{label}> line {frame.lineno}:\n    {code}\n"
        if getattr(frame, "colno", None) is not None:
            mesg += "    " + " " * frame.colno + "^\n"
        return mesg + f"{type(exc).__name__}: {exc}"

    def _call_app_service(self, svc, data, blocking):
        """eval.py pyscript_service_handler: kwargs trigger_type="service", context, then the data;
        the function's return value (None after an exception, which pyscript logs)."""
        ctx, ref, name = svc.app
        kwargs = {"trigger_type": "service", "context": None, **data}
        if not blocking:
            self._queue.append((ctx, ref(), name, kwargs, (), False))
            self._drain()
            return None
        result = self._invoke(ctx, ref(), name, kwargs)
        self._drain()
        return result

    # ------------------------------------------------------------------ trigger bookkeeping
    def _add_trig(self, trig):
        """global_ctx.py trigger_register: start now if the context runs, else at start()."""
        ctx = trig.ctx
        ctx.trigs.append(trig)
        if ctx.started:
            self._activate(trig)
            self._drain()
            if trig.kind == "time" and not self._depth:
                self.run_time_triggers()

    def _activate(self, trig):
        """TrigInfo.start / trigger_watch set-up: watch states, schedule times, run "startup"."""
        if trig.active or trig.kind in ("service",):
            return
        trig.active = True
        if trig.kind == "state":
            for eid in trig.checks:
                self._watch.setdefault(eid, []).append(trig)
        elif trig.kind == "time":
            now = _naive(self.now())
            trig.startup_time = now
            if trig.timers:
                trig.next_due = self._next_due(trig, now, skip_startup=trig.startup)
                self._timers.append(trig)
                if trig.next_due is not None and (self._min_due is None or trig.next_due < self._min_due):
                    self._min_due = trig.next_due
            if trig.startup:
                kwargs = {"trigger_type": "time", "trigger_time": "startup"}
                if trig.user_kwargs:
                    kwargs.update(trig.user_kwargs)
                self._enqueue_trig(trig, kwargs)

    def _deactivate(self, trig):
        if not trig.active:
            return
        trig.active = False
        if trig.kind == "state":
            for eid in trig.checks:
                lst = self._watch.get(eid)
                if lst and trig in lst:
                    lst.remove(trig)
                    if not lst:
                        del self._watch[eid]
        elif trig.kind == "time" and trig in self._timers:
            self._timers.remove(trig)
            self._recompute_min_due()

    def _recompute_min_due(self):
        dues = [t.next_due for t in self._timers if t.next_due is not None]
        self._min_due = min(dues) if dues else None

    def _next_due(self, trig, now, skip_startup=False):
        """trigger.py TrigTime.timer_trigger_next: earliest next time of the decorator's specs.

        ``skip_startup``: pyscript's "now == start == startup_time" case only exists on a trigger
        task's first loop iteration (taken by a "startup" run, if any, or consumed by the fire).
        """
        best = None
        for timer in trig.timers:
            when = timer.next_after(now, trig.startup_time, skip_startup)
            if when is not None and (best is None or when < best):
                best = when
        return best

    def run_time_triggers(self):
        """Run every active time trigger whose next due time <= now, once each, in due-time order.

        Each gets trigger_time = its due time (naive local datetime, as pyscript passes it); its
        next due time is computed from the current time, so a clock jump over several periods
        fires it once (as a woken pyscript trigger task does). Cheap when nothing is due.
        """
        if self._min_due is None:
            return
        now = _naive(self.now())
        if now < self._min_due:
            return
        due = sorted((t for t in self._timers if t.next_due is not None and t.next_due <= now),
                     key=lambda t: t.next_due)
        for trig in due:
            when = trig.next_due
            trig.next_due = self._next_due(trig, now, skip_startup=True)
            kwargs = {"trigger_type": "time", "trigger_time": when}
            if trig.user_kwargs:
                kwargs.update(trig.user_kwargs)
            self._enqueue_trig(trig, kwargs)
        self._recompute_min_due()
        self._drain()

    def trigger_functions(self):
        """(kind, spec, function_name) for every live registration of the current app context."""
        ctx = self._ctx
        if ctx is None or not ctx.alive:
            return []
        return [(t.kind, t.spec, t.func_name) for t in ctx.trigs if t.ref() is not None]

    # ------------------------------------------------------------------ app lifecycle
    def load_app(self, path=None):
        """global_ctx.py GlobalContextMgr.load_file for ``apps.<app_name>``.

        The old context of the same name is stopped first. Module-level code runs in a fresh
        global dict (``__name__`` = app name, like load_scripts' fq_mod_name); triggers are
        registered but not started until ``start()``. An exception in module-level code is
        logged ("Exception in <PATH> line N: ...") and the context is stopped, as pyscript does.
        Returns the context's globals.
        """
        path = Path(path or self._app_path or DEFAULT_APP)
        if not path.is_absolute():
            path = REPO_ROOT / path
        path = path.resolve()
        self._app_path = path
        self._app_path_str = str(path)
        reloading = self._ctx is not None
        if self._ctx is not None and self._ctx.alive:
            self._stop_ctx(self._ctx)
        self._generation += 1
        ctx = _Ctx(f"apps.{self.app_name}", self._generation)
        self._ctx = ctx
        ctx.globals = self._make_globals(ctx)
        source = path.read_text(encoding="utf-8")
        compat.check_source(source, str(path), self._finder.is_pyscript_module)
        code = compile(source, str(path), "exec")
        self._finder.print_hook = self._module_print
        self._depth += 1
        try:
            exec(code, ctx.globals)  # noqa: S102
        except FATAL:
            self._reset_runs()
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
        self._started = True
        self._start_ctx()
        self._drain()
        self.run_time_triggers()  # e.g. period(now, ...) is due at once

    def _start_ctx(self):
        ctx = self._ctx
        if ctx is not None and ctx.alive and not ctx.started:
            ctx.started = True
            for trig in list(ctx.trigs):
                self._activate(trig)

    def _stop_ctx(self, ctx):
        """GlobalContext.stop -> EvalFunc.trigger_stop: cancel triggers, remove @service services,
        then run "shutdown" time triggers (also of triggers that never started)."""
        ctx.alive = False
        ctx.started = False
        trigs, ctx.trigs = ctx.trigs, []
        for trig in trigs:
            self._deactivate(trig)
            if trig.kind == "service":
                domain, name = trig.spec[0].lower().split(".", 1)
                svc = self._services.get(domain, {}).get(name)
                if svc is not None and svc.app is not None and svc.app[0] is ctx:
                    self.remove_service(domain, name)
        for trig in trigs:
            if trig.kind == "time" and trig.shutdown:
                kwargs = {"trigger_type": "time", "trigger_time": "shutdown"}
                if trig.user_kwargs:
                    kwargs.update(trig.user_kwargs)
                self._enqueue_trig(trig, kwargs)
        self._drain()

    def reload(self, app_config=None):
        """pyscript.reload of this app (file or yaml entry changed, or global_ctx given).

        Old context: shutdown triggers run, triggers and @service services go away; the file is
        exec'd again in a new context (``app_config`` replaces the config if given) and started at
        once (start_global_contexts). HA states, pyscript.* included, are untouched.
        """
        if app_config is not None:
            self.app_config = _json_copy(app_config)
        globals_ = self.load_app(self._app_path)
        self._start_ctx()
        self._drain()
        self.run_time_triggers()
        return globals_

    def restart(self, app_config=None, start=True, fresh_modules=False):
        """Home Assistant restart.

        1. EVENT_HOMEASSISTANT_STOP: the app is unloaded (shutdown triggers run).
        2. The restore cache is written like helpers/restore_state.py async_get_stored_states:
           persisted pyscript.* states that exist, plus older cache entries for ids not present.
        3. New process: all states are gone. pyscript restores every pyscript.* entry of the
           cache (pyscript __init__.py restore_state) with fresh timestamps. States the app
           created outside pyscript.* (no entity registry entry) are gone. Every other entity
           is 'unavailable' with attributes {"restored": True, ...} (entity_registry.py
           write_unavailable_state: capabilities such as a number's min/max/step/mode, and
           device_class/friendly_name/icon/unit_of_measurement/supported_features) until the
           test sets it again, as its integration would.
        4. With ``fresh_modules`` the pyscript/modules modules are dropped from sys.modules, as
           a new process would; off by default because tests holding the old module objects
           would then see two versions of each class (matters only for module-level state).
        5. The app is loaded and, if ``start``, started (otherwise call ``start()``).
        Fake services stay registered (their integrations register them again).
        """
        if self._ctx is not None and self._ctx.alive:
            self._stop_ctx(self._ctx)
        current = {eid: st for eid, st in self._states.items() if not st.attributes.get("restored")}
        cache = {eid: (current[eid].state, dict(current[eid].attributes))
                 for eid in self._persisted if eid in current}
        for eid, val in self._restore.items():
            if eid not in current and eid not in cache:
                cache[eid] = val
        old_states = self._states
        self._restore = cache
        self._states = {}
        self._watch = {}
        self._timers = []
        self._min_due = None
        self._persisted = set()
        self._unique_last = {}
        self._started = False
        self._restore_pyscript_states()
        keep = ("device_class", "friendly_name", "icon", "unit_of_measurement", "supported_features")
        for eid, st in old_states.items():
            if eid.startswith("pyscript.") or eid in self._app_created:
                continue
            attrs = {"restored": True}
            if eid in self._numbers:
                attrs.update({k: st.attributes[k] for k in ("min", "max", "step", "mode") if k in st.attributes})
            attrs.update({k: st.attributes[k] for k in keep if k in st.attributes})
            self._async_set(eid, STATE_UNAVAILABLE, attrs)
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

    # ------------------------------------------------------------------ task.unique record
    def _record_unique(self, ctx, func_name, name, kill_me):
        """function.py task_unique_factory: names are per context name ("apps.APP.name").

        Each call is recorded as dict(name, context, generation, function, kill_me, kills) where
        ``kills`` is the previous call with that name (without its own ``kills``): the task
        pyscript would cancel if it were still running. In the stubs no task outlives its env
        call, so nothing is cancelled. Only the last 1000 calls are kept.
        """
        key = f"{ctx.name}.{name}"
        rec = {"name": name, "context": ctx.name, "generation": ctx.generation, "function": func_name,
               "kill_me": kill_me}
        prev = self._unique_last.get(key)
        self._unique_last[key] = rec
        self.task_uniques.append(dict(rec, kills=prev))

    # ------------------------------------------------------------------ globals for the app
    def _make_globals(self, ctx):
        from .globals_ import make_globals

        return make_globals(self, ctx)

