"""The names pyscript puts in an app's global context, bound to one PyscriptEnv and context.

Only what the app uses: state (state.py State: get, exist, set, getattr, persist), service
(function.py service_call/has_service + the @service decorator), log, task.unique, pyscript.app_config,
and the decorators @state_trigger("d.e"), @time_trigger("startup" | "shutdown" | "period(...)"),
@service. Anything else is a StubLimitation or an AttributeError.
"""

from __future__ import annotations

import re

from . import compat
from .env import _PERIOD, _json_copy, _Trig
from .ha import STATE_VIRTUAL_ATTRS, StateVal


class _StateAPI:
    """pyscript state.py State.* on top of the env's state machine."""

    def __init__(self, env):
        self._env = env

    def get(self, var_name):
        """The StateVal of "d.e", or the attribute of "d.e.attr" (virtual attributes included)."""
        parts = var_name.split(".")
        if len(parts) not in (2, 3):
            raise NameError(f"invalid name '{var_name}' (should be 'domain.entity' or 'domain.entity.attr')")
        entity_id = f"{parts[0]}.{parts[1]}"
        st = self._env._get(entity_id)
        if st is None:
            raise NameError(f"name '{entity_id}' is not defined")
        if len(parts) == 2:
            return StateVal(st)
        try:
            return getattr(StateVal(st), parts[2])
        except AttributeError:
            raise AttributeError(f"state '{entity_id}' has no attribute '{parts[2]}'") from None

    def set(self, var_name, value=None, new_attributes=None, **kwargs):
        """state.py State.set: value None keeps the state; new_attributes None keeps the attributes;
        keyword args are merged on top; HA stores str(value)."""
        if var_name.count(".") != 1:
            raise NameError(f"invalid name {var_name} (should be 'domain.entity')")
        env = self._env
        st = env._get(var_name)
        if value is None and st is not None:
            value = st.state
        if new_attributes is None:
            new_attributes = dict(st.attributes) if st is not None else {}
        new_attributes = {**new_attributes, **kwargs}
        if st is None and not var_name.startswith("pyscript."):
            env._app_created.add(var_name.lower())
        env._async_set(var_name, str(value), new_attributes)

    def getattr(self, var_name):
        if var_name.count(".") != 1:
            raise NameError(f"invalid name {var_name} (should be 'domain.entity')")
        st = self._env._get(var_name)
        return dict(st.attributes) if st is not None else None

    def exist(self, var_name):
        parts = var_name.split(".")
        st = self._env._get(f"{parts[0]}.{parts[1]}") if len(parts) in (2, 3) else None
        return st is not None and (len(parts) == 2 or parts[2] in st.attributes or parts[2] in STATE_VIRTUAL_ATTRS)

    def persist(self, var_name, default_value=None, default_attributes=None):
        """state.py State.persist: pyscript.* only; registers for RestoreState (see env.restart)."""
        if var_name.count(".") != 1 or not var_name.startswith("pyscript."):
            raise NameError(f"invalid name {var_name} (should be 'pyscript.entity')")
        self._env._persisted.add(var_name)
        current = self._env._get(var_name)
        if current is None and default_value is not None:
            self.set(var_name, default_value, default_attributes)
        elif current is not None and default_attributes is not None:
            self.set(var_name, current.state, **{k: v for k, v in default_attributes.items() if k not in current.attributes})


class _ServiceAPI:
    """``service``: the @service decorator and service.call / service.has_service (function.py)."""

    def __init__(self, env, ctx):
        self._env = env
        self._ctx = ctx

    def call(self, domain, name, **kwargs):
        """function.py Function.service_call + hass_services_async_call: ``blocking`` and
        ``return_response`` are taken out of the data when they are bools (anything else stays in
        the data). ``return_response=True`` without ``blocking`` blocks. Without
        ``return_response``, pyscript asks HA's ``supports_response`` first, which raises
        ``KeyError`` for an unknown domain or service (HA core.py ServiceRegistry.supports_response):
        that, not ServiceNotFound, is what the app sees then; a service that only answers with a
        response is then called with ``return_response`` and ``blocking``. The call returns the
        service's response (None unless one was asked for and the call blocked).
        """
        hass_args = {}
        for keyword in ("blocking", "return_response"):
            if type(kwargs.get(keyword)) is bool:
                hass_args[keyword] = kwargs.pop(keyword)
        if hass_args.get("return_response"):
            hass_args.setdefault("blocking", True)
        elif "return_response" not in hass_args and self._env.supports_response(domain, name) == "only":
            hass_args["return_response"] = True
            hass_args.setdefault("blocking", True)
        return self._env._hass_call(domain, name, kwargs, hass_args.get("blocking", False),
                                    return_response=hass_args.get("return_response", False))

    def has_service(self, domain, name):
        return self._env.has_service(domain, name)

    def __call__(self, fn):
        """A bare @service: the function becomes the service pyscript.<its name>."""
        trig = _Trig(self._ctx, fn, "service", f"pyscript.{fn.__name__}")
        self._env.register_service("pyscript", fn.__name__)
        handler, schema, calls, _ = self._env._services["pyscript"][fn.__name__.lower()]
        self._env._services["pyscript"][fn.__name__.lower()] = (handler, schema, calls, fn)
        self._ctx.trigs.append(trig)
        return fn


class _Log:
    """log.debug/info/warning/error: logger custom_components.pyscript.<ctx>[.<function>]."""

    def __init__(self, env, ctx):
        for level in ("debug", "info", "warning", "error"):
            setattr(self, level, lambda msg, *args, _level=level.upper(): env._app_log(ctx, _level, msg, args))


class _Task:
    """``task.unique``: the stubs never have two runs at once, so there is nothing to cancel."""

    def unique(self, name, kill_me=False):
        pass


class _Pyscript:
    """The ``pyscript`` name: pyscript.app_config (global_ctx.py); a NameError when there is none."""

    def __init__(self, app_config):
        self._app_config = app_config

    @property
    def app_config(self):
        if self._app_config is None:
            raise NameError("name 'pyscript.app_config' is not defined")
        return self._app_config


def _decorators(env, ctx):
    """Trigger decorators: they register at definition time (EvalFunc.trigger_init) and return
    the function itself."""

    def state_trigger(entity_id):
        """A bare "domain.entity": runs when its state string changes."""
        if not isinstance(entity_id, str) or not re.fullmatch(r"\w+\.\w+", entity_id):
            raise env._limit(f"@state_trigger({entity_id!r}): only 'domain.entity' is supported by the stubs")

        def decorator(fn):
            env._add_trig(_Trig(ctx, fn, "state", entity_id.lower()))
            return fn

        return decorator

    def time_trigger(spec):
        """"startup", "shutdown" or "period(midnight|now, N s|min)"."""
        match = _PERIOD.match(spec.strip())
        if spec not in ("startup", "shutdown") and not match:
            raise env._limit(f"@time_trigger({spec!r}): not supported by the stubs")
        period = (match[1], float(match[2]) * (60 if match[3] in ("m", "min") else 1)) if match else None

        def decorator(fn):
            env._add_trig(_Trig(ctx, fn, "time", spec, period))
            return fn

        return decorator

    def unsupported(name):
        def decorator(*args, **kwargs):
            raise env._limit(f"@{name} is not supported by the stubs")
        return decorator

    names = ("event_trigger", "mqtt_trigger", "webhook_trigger", "state_active", "time_active", "task_unique")
    return {"state_trigger": state_trigger, "time_trigger": time_trigger,
            "pyscript_compile": lambda fn: fn, "pyscript_executor": lambda fn: fn,  # native Python here too
            **{name: unsupported(name) for name in names}}


def make_globals(env, ctx):
    """A fresh global dict like load_scripts' {"__name__": fq_mod_name} plus pyscript's names."""
    log = _Log(env, ctx)
    g = {"__name__": env.app_name, **_decorators(env, ctx)}
    g.update(state=_StateAPI(env), service=_ServiceAPI(env, ctx), log=log, task=_Task(),
             pyscript=_Pyscript(_json_copy(env.app_config) or None))
    g["__builtins__"] = compat.make_builtins(
        lambda *a, **k: log.debug(*a) if a else None,
        compat.make_import(env._finder, lambda: env.allow_all_imports, g),
    )
    return g
