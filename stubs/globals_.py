"""The names pyscript puts in an app's global context, bound to one PyscriptEnv and context.

state (state.py State), service (function.py service_call/service_has_service + the @service
decorator of eval.py EvalFunc.trigger_init), log (bound logger methods), task (function.py,
trigger.py), event, pyscript (global_ctx.py / state.py), and the decorators (eval.py
TRIG_SERV_DECORATORS, COMP_DECORATORS; trigger.py TrigInfo).
"""

from __future__ import annotations

import inspect

from . import compat
from .env import LOGGER_PATH, STATE_RE, SUPPORTS_RESPONSE, _json_copy, _Trig
from .errors import StubLimitation
from .ha import STATE_CALLABLE_ATTRS, STATE_VIRTUAL_ATTRS, StateVal
from .schedule import parse_spec


class _StateAPI:
    """pyscript state.py State.* on top of the env's state machine."""

    def __init__(self, env):
        self._env = env
        self._names = {}   # var_name -> (entity_id, domain, attribute or None): split once

    def get(self, var_name):
        parsed = self._names.get(var_name)
        if parsed is None:
            parts = var_name.split(".")
            if len(parts) not in (2, 3):
                raise NameError(f"invalid name '{var_name}' (should be 'domain.entity' or 'domain.entity.attr')")
            parsed = (f"{parts[0]}.{parts[1]}", parts[0], parts[2] if len(parts) == 3 else None)
            self._names[var_name] = parsed
        entity_id, domain, attr = parsed
        st = self._env._get(entity_id)
        if st is None:
            raise NameError(f"name '{entity_id}' is not defined")
        if attr is None:
            return StateVal(st)
        svc = self._entity_service(domain, attr)
        if svc is not None:
            return self._service_caller(svc, entity_id)
        # getattr(StateVal(st), attr) without building the StateVal: its instance __dict__ is the
        # attributes plus the virtual attributes (which win), and no dunder is looked up here.
        if attr in STATE_VIRTUAL_ATTRS:
            return getattr(st, attr)
        if attr in st.attributes and not attr.startswith("__"):
            return st.attributes[attr]
        try:
            return getattr(StateVal(st), attr)
        except AttributeError:
            raise AttributeError(f"state '{entity_id}' has no attribute '{attr}'") from None

    def _entity_service(self, domain, name):
        svc = self._env._services.get(domain, {}).get(name)
        return svc if svc is not None and svc.fields is not None else None

    def _service_caller(self, svc, entity_id):
        """state.py State.get service_call_factory: d.e.service(...) with entity_id filled in."""
        env = self._env

        def service_call(*args, **kwargs):
            hass_args = {}
            for keyword, types in (("blocking", (bool,)), ("return_response", (bool,)), ("limit", (float, int))):
                if keyword in kwargs and type(kwargs[keyword]) in types:
                    hass_args[keyword] = kwargs.pop(keyword)
            hass_args.pop("limit", None)
            kwargs["entity_id"] = entity_id
            if len(args) == 1 and len(svc.fields) == 1:
                [param] = svc.fields
                kwargs[param] = args[0]
            elif args:
                raise TypeError(f"service {svc.domain}.{svc.service} takes no positional arguments")
            return env._hass_call(svc.domain, svc.service, kwargs, **hass_args)

        return service_call

    def set(self, var_name, value=None, new_attributes=None, **kwargs):
        """state.py State.set: value None keeps the state; new_attributes None keeps the attributes;
        keyword args are merged on top; HA stores str(value)."""
        if var_name.count(".") != 1:
            raise NameError(f"invalid name {var_name} (should be 'domain.entity')")
        if isinstance(value, StateVal):
            if new_attributes is None:
                new_attributes = {k: v for k, v in value.__dict__.items() if k not in STATE_VIRTUAL_ATTRS}
            value = str(value)
        env = self._env
        st = env._get(var_name) if value is None or new_attributes is None else None
        if value is None and st is not None:
            value = st.state
        if new_attributes is None:
            new_attributes = dict(st.attributes) if st is not None else {}
        if kwargs:
            new_attributes = dict(new_attributes)
            new_attributes.update(kwargs)
        if env._get(var_name) is None and not var_name.startswith("pyscript."):
            env._app_created.add(var_name.lower())
        env._async_set(var_name, str(value), dict(new_attributes))

    def setattr(self, var_attr_name, value):
        parts = var_attr_name.split(".")
        if len(parts) != 3:
            raise NameError(f"invalid name {var_attr_name} (should be 'domain.entity.attr')")
        if not self.exist(f"{parts[0]}.{parts[1]}"):
            raise NameError(f"state {parts[0]}.{parts[1]} doesn't exist")
        self.set(f"{parts[0]}.{parts[1]}", **{parts[2]: value})

    def getattr(self, var_name):
        if isinstance(var_name, StateVal):
            return {k: v for k, v in var_name.__dict__.items() if k not in STATE_VIRTUAL_ATTRS}
        if var_name.count(".") != 1:
            raise NameError(f"invalid name {var_name} (should be 'domain.entity')")
        st = self._env._get(var_name)
        return dict(st.attributes) if st is not None else None

    def get_attr(self, var_name):
        self._env._log("WARNING", f"{LOGGER_PATH}.state", "state.get_attr() is deprecated: use state.getattr() instead")
        return self.getattr(var_name)

    def exist(self, var_name):
        parts = var_name.split(".")
        if len(parts) not in (2, 3):
            return False
        st = self._env._get(f"{parts[0]}.{parts[1]}")
        if st is None:
            return False
        return (len(parts) == 2 or self._entity_service(parts[0], parts[2]) is not None
                or parts[2] in st.attributes or parts[2] in STATE_VIRTUAL_ATTRS or parts[2] in STATE_CALLABLE_ATTRS)

    def names(self, domain=None):
        """States.async_entity_ids(domain_filter)."""
        ids = list(self._env._states)
        if domain is None:
            return ids
        domains = {domain.lower()} if isinstance(domain, str) else set(domain)
        return [eid for eid in ids if eid.split(".", 1)[0] in domains]

    def delete(self, var_name, context=None):
        parts = var_name.split(".")
        env = self._env
        if len(parts) == 2:
            if not env._async_remove(var_name):
                raise NameError(f"name '{var_name}' not defined")
            return
        if len(parts) == 3:
            name = f"{parts[0]}.{parts[1]}"
            st = env._get(name)
            if st is None:
                raise NameError(f"state {name} doesn't exist")
            attrs = dict(st.attributes)
            if parts[2] not in attrs:
                raise AttributeError(f"state '{name}' has no attribute '{parts[2]}'")
            del attrs[parts[2]]
            self.set(name, st.state, new_attributes=attrs)
            return
        raise NameError(f"invalid name '{var_name}' (should be 'domain.entity' or 'domain.entity.attr')")

    def persist(self, var_name, default_value=None, default_attributes=None):
        """state.py State.persist: pyscript.* only; registers for RestoreState (see env.restart)."""
        if var_name.count(".") != 1 or not var_name.startswith("pyscript."):
            raise NameError(f"invalid name {var_name} (should be 'pyscript.entity')")
        env = self._env
        env._persisted.add(var_name)
        exists = self.exist(var_name)
        if not exists and default_value is not None:
            self.set(var_name, default_value, default_attributes)
        elif exists and default_attributes is not None:
            current = env._get(var_name)
            new_attributes = {k: v for k, v in default_attributes.items() if k not in current.attributes}
            self.set(var_name, current.state, **new_attributes)


class _ServiceAPI:
    """``service``: the @service decorator and service.call / service.has_service (function.py)."""

    def __init__(self, env, ctx):
        self._env = env
        self._ctx = ctx

    def call(self, domain, name, **kwargs):
        """function.py Function.service_call + hass_services_async_call.

        ``blocking``/``return_response`` are taken out of the data only when they are bools.
        Without an explicit ``return_response`` pyscript asks HA's ``supports_response``, which
        raises ``KeyError`` for an unknown domain or service (HA core.py
        ServiceRegistry.supports_response): that, not ServiceNotFound, is what the app sees then.
        """
        env = self._env
        hass_args = {}
        for keyword in ("blocking", "return_response"):
            if keyword in kwargs and type(kwargs[keyword]) is bool:
                hass_args[keyword] = kwargs.pop(keyword)
        if hass_args.get("return_response") and "blocking" not in hass_args:
            hass_args["blocking"] = True
        elif "return_response" not in hass_args:
            svc = env._services[domain.lower()][name.lower()]  # KeyError like HA supports_response
            if svc.supports_response == "only":
                hass_args["return_response"] = True
                hass_args.setdefault("blocking", True)
        return env._hass_call(domain, name, kwargs, **hass_args)

    def has_service(self, domain, name):
        return self._env.has_service(domain, name)

    def __call__(self, *args, supports_response=None, **kwargs):
        """@service, @service("domain.name", ...), @service(supports_response="optional")."""
        if kwargs:
            raise TypeError(f"decorator @service invalid keyword argument '{next(iter(kwargs))}'")
        if len(args) == 1 and callable(args[0]) and supports_response is None:
            return self._register(args[0], (), None)

        def decorator(fn):
            return self._register(fn, args, supports_response)

        return decorator

    def _register(self, fn, names, supports_response):
        env, ctx = self._env, self._ctx
        exc_mesg = f"function '{fn.__name__}' defined in {ctx.name}"
        if supports_response is not None and type(supports_response) is not str:
            raise TypeError(f"{exc_mesg}: decorator @service keyword 'supports_response' should be type str")
        supports_response = supports_response or "none"
        if supports_response not in SUPPORTS_RESPONSE:
            raise ValueError(f"'{supports_response}' is not a valid SupportsResponse")
        for srv_name in names or [f"pyscript.{fn.__name__}"]:
            if type(srv_name) is not str or srv_name.count(".") != 1:
                raise ValueError(f"{exc_mesg}: @service argument must be a string with one period")
            domain, name = srv_name.split(".", 1)
            if name in ("reload", "jupyter_kernel_start"):
                raise SyntaxError(f"{exc_mesg}: @service conflicts with builtin service")
            trig = _Trig(ctx, fn, "service", (srv_name,))
            env.register_service(domain, name, None, supports_response=supports_response)
            env._services[domain.lower()][name.lower()].app = (ctx, trig.ref, fn.__name__)
            ctx.trigs.append(trig)
        return fn


class _Log:
    """log.debug/info/warning/error: logger custom_components.pyscript.<ctx>[.<function>]."""

    def __init__(self, env, ctx):
        self._env = env
        self._ctx = ctx

    def debug(self, msg, *args, exc_info=False, **_):
        self._env._app_log(self._ctx, "DEBUG", msg, args, exc_info)

    def info(self, msg, *args, exc_info=False, **_):
        self._env._app_log(self._ctx, "INFO", msg, args, exc_info)

    def warning(self, msg, *args, exc_info=False, **_):
        self._env._app_log(self._ctx, "WARNING", msg, args, exc_info)

    def error(self, msg, *args, exc_info=False, **_):
        self._env._app_log(self._ctx, "ERROR", msg, args, exc_info)


class _FakeTask:
    """What task.create returns: the action already ran (or is queued) when the app sees it."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<stub task {self.name}>"


class _Task:
    """``task``: unique, create, executor; everything that waits raises StubLimitation."""

    def __init__(self, env, ctx):
        self._env = env
        self._ctx = ctx

    def unique(self, name, kill_me=False):
        env = self._env
        func = env._stack[-1][1] if env._stack and env._stack[-1][0] is self._ctx else None
        env._record_unique(self._ctx, func, name, kill_me)

    def sleep(self, duration):
        raise self._env._limit(
            "task.sleep(): the stubs never wait; drive time with freezegun + env.run_time_triggers() instead")

    def create(self, func, *args, **kwargs):
        """trigger.py user_task_create: the function runs as its own task (after the caller returns)."""
        name = getattr(func, "__name__", "<function>")
        self._env._queue.append((self._ctx, func, name, kwargs, args, False))
        self._env._drain()
        return _FakeTask(name)

    def executor(self, func, *args, **kwargs):
        """trigger.py user_task_executor: native callables only."""
        if inspect.iscoroutinefunction(func) or not callable(func):
            raise TypeError(f"function {func} is not callable by task.executor")
        code = getattr(func, "__code__", None)
        if code is not None and self._env._is_pyscript_file(code.co_filename) and not getattr(func, "_pyscript_native", False):
            raise TypeError("pyscript functions can't be called from task.executor - must be a regular python function")
        return func(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise self._env._limit(f"task.{name}() is not supported by the stubs")


class _Event:
    def __init__(self, env):
        self._env = env

    def fire(self, event_type, **kwargs):
        """function.py event_fire -> hass.bus.async_fire."""
        self._env.events.append((event_type, dict(kwargs)))
        self._env._fire_event(event_type, kwargs)
        self._env._drain()


class _Pyscript:
    """The ``pyscript`` name: pyscript.app_config (global_ctx.py), pyscript.config (state.py)."""

    def __init__(self, env, ctx, app_config, config):
        self.__dict__.update(_env=env, _ctx=ctx, _app_config=app_config, config=config)

    @property
    def app_config(self):
        if self._app_config is None:
            raise NameError("name 'pyscript.app_config' is not defined")
        return self._app_config

    def get_global_ctx(self):
        return self._ctx.name

    def list_global_ctx(self):
        return [self._ctx.name]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        raise self._env._limit(f"pyscript.{name}: not supported by the stubs (use state.get/service.call)")

    def __setattr__(self, name, value):
        raise self._env._limit(f"pyscript.{name} = ...: not supported by the stubs (use state.set)")


def _decorators(env, ctx):
    """Trigger decorators. They register at definition time (EvalFunc.trigger_init) and return
    the function itself; the trigger lives as long as the function object (weak reference)."""

    def state_trigger(*args, state_hold=None, state_hold_false=None, state_check_now=False, watch=None, kwargs=None):
        """trigger.py TrigInfo for bare-ident triggers: "d.e", "d.e.attr", "d.e.*" (lists/sets OR-ed).

        ``state_check_now`` is accepted: for pure ident triggers pyscript's initial check never
        calls the function (trig_ok is False without an expression). Expressions, state_hold,
        state_hold_false and watch raise StubLimitation.
        """
        if len(args) == 1 and callable(args[0]):
            raise TypeError(f"function '{args[0].__name__}' defined in {ctx.name}: decorator @state_trigger needs at least one argument")

        def decorator(fn):
            exc_mesg = f"function '{fn.__name__}' defined in {ctx.name}"
            if not args:
                raise TypeError(f"{exc_mesg}: decorator @state_trigger needs at least one argument")
            idents = []
            for num, arg in enumerate(args):
                if isinstance(arg, str):
                    idents.append(arg)
                elif type(arg) in (list, set) and all(isinstance(v, str) for v in arg):
                    idents.extend(arg)
                else:
                    raise TypeError(f"{exc_mesg}: decorator @state_trigger argument {num + 1} should be a string, or list, or set")
            if kwargs is not None and type(kwargs) is not dict:
                raise TypeError(f"{exc_mesg}: decorator @state_trigger keyword 'kwargs' should be type dict")
            for option, val in (("state_hold", state_hold), ("state_hold_false", state_hold_false), ("watch", watch)):
                if val is not None:
                    raise env._limit(f"{exc_mesg}: @state_trigger({option}=...) is not supported by the stubs")
            checks = {}
            for ident in idents:
                if not STATE_RE.match(ident):
                    raise env._limit(f"{exc_mesg}: @state_trigger({ident!r}): only 'domain.entity', "
                                     "'domain.entity.attr' and 'domain.entity.*' are supported by the stubs")
                parts = ident.split(".")
                checks.setdefault(f"{parts[0]}.{parts[1]}", []).append(parts[2] if len(parts) == 3 else None)
            trig = _Trig(ctx, fn, "state", tuple(idents))
            trig.checks = {eid: tuple(c) for eid, c in checks.items()}
            trig.user_kwargs = kwargs
            env._add_trig(trig)
            return fn

        return decorator

    def time_trigger(*args, kwargs=None):
        """"startup", "shutdown", "period(...)", "cron(...)"; a bare @time_trigger means startup.
        ``@time_trigger()`` (empty call) never fires in pyscript 1.7.0 (TrigInfo gets args [])."""
        if len(args) == 1 and callable(args[0]) and not isinstance(args[0], str):
            fn = args[0]
            trig = _Trig(ctx, fn, "time", ("startup",))
            trig.startup = True
            env._add_trig(trig)
            return fn

        def decorator(fn):
            exc_mesg = f"function '{fn.__name__}' defined in {ctx.name}"
            for num, arg in enumerate(args):
                if not isinstance(arg, str):
                    raise TypeError(f"{exc_mesg}: decorator @time_trigger argument {num + 1} should be a string")
            if kwargs is not None and type(kwargs) is not dict:
                raise TypeError(f"{exc_mesg}: decorator @time_trigger keyword 'kwargs' should be type dict")
            trig = _Trig(ctx, fn, "time", tuple(args))
            trig.startup = "startup" in args
            trig.shutdown = "shutdown" in args
            log_error = lambda msg: env._log("ERROR", f"{LOGGER_PATH}.trigger", msg)  # noqa: E731
            try:
                trig.timers = tuple(parse_spec(s, log_error) for s in args if s not in ("startup", "shutdown"))
            except StubLimitation as exc:
                env._fatal.append(exc)
                raise
            trig.user_kwargs = kwargs
            env._add_trig(trig)
            return fn

        return decorator

    def event_trigger(*args, kwargs=None):
        """@event_trigger(event_type): runs on env.fire_event / event.fire; expressions unsupported."""

        def decorator(fn):
            if not args or len(args) > 3:
                raise TypeError(f"function '{fn.__name__}' defined in {ctx.name}: decorator @event_trigger got {len(args)} arguments, expected 1 or 2 or 3")
            if len(args) > 1:
                raise env._limit(f"@event_trigger{args!r}: expressions are not supported by the stubs")
            trig = _Trig(ctx, fn, "event", tuple(args))
            trig.user_kwargs = kwargs
            env._add_trig(trig)
            return fn

        return decorator

    def task_unique(name, kill_me=False):
        """@task_unique: recorded in env.task_uniques on every run (see PyscriptEnv._record_unique)."""
        if type(kill_me) not in (bool, int):
            raise TypeError("decorator @task_unique keyword 'kill_me' should be type bool or int")

        def decorator(fn):
            fn._pyscript_task_unique = (name, kill_me)
            return fn

        return decorator

    def unsupported(dec_name):
        def dec(*args, **kwargs):
            raise env._limit(f"@{dec_name} is not supported by the stubs")
        dec.__name__ = dec_name
        return dec

    def native(fn=None):
        """@pyscript_compile / @pyscript_executor: the function is plain Python anyway."""
        if fn is None:
            return native
        fn._pyscript_native = True
        return fn

    return {
        "state_trigger": state_trigger,
        "time_trigger": time_trigger,
        "event_trigger": event_trigger,
        "task_unique": task_unique,
        "state_active": unsupported("state_active"),
        "time_active": unsupported("time_active"),
        "mqtt_trigger": unsupported("mqtt_trigger"),
        "webhook_trigger": unsupported("webhook_trigger"),
        "pyscript_compile": native,
        "pyscript_executor": native,
    }


def make_globals(env, ctx):
    """A fresh global dict like load_scripts' {"__name__": fq_mod_name} plus pyscript's names."""
    app_config = _json_copy(env.app_config)
    app_config = app_config.copy() if app_config else None
    config = {"allow_all_imports": env.allow_all_imports, "hass_is_global": False,
              "apps": {env.app_name: _json_copy(env.app_config)}}
    log = _Log(env, ctx)
    g = {"__name__": env.app_name}
    g.update(_decorators(env, ctx))
    g.update(
        state=_StateAPI(env),
        service=_ServiceAPI(env, ctx),
        log=log,
        task=_Task(env, ctx),
        event=_Event(env),
        pyscript=_Pyscript(env, ctx, app_config, config),
    )
    finder = env._finder
    g["__builtins__"] = compat.make_builtins(
        lambda *a, **k: log.debug(*a) if a else None,
        compat.make_import(finder, lambda: env.allow_all_imports, g),
    )
    return g
