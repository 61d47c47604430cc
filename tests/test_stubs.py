"""Tests of the stubs themselves: each models a behaviour of HA 2025.12.1 / pyscript 1.7.0."""

import datetime as dt

import pytest

from stubs import (
    HomeAssistantError, Invalid, PyscriptIncompatible, ServiceNotFound, ServiceValidationError,
    StateVal, StubLimitation,
)

UTC = dt.timezone.utc


@pytest.fixture
def load(env_factory, write_app):
    """load(source, config={"k": 1}, start=True, **env_kwargs) -> (env, app globals)."""

    def _load(source, config=None, start=True, **kwargs):
        env = env_factory({"k": 1} if config is None else config, app_name="t", **kwargs)
        glb = env.load_app(write_app(source))
        if start:
            env.start()
        return env, glb

    return _load


# --------------------------------------------------------------------------- state machine
def test_timestamps_follow_ha_async_set(env_factory, frozen):
    env = env_factory()
    t0 = env.now()
    env.set_state("sensor.p", 100, unit="W")
    frozen.tick(5)
    env.set_state("sensor.p", "100", unit="W")  # same value and attributes: only last_reported
    s = env.get_state("sensor.p")
    assert (s.last_changed, s.last_updated, s.last_reported) == (t0, t0, t0 + dt.timedelta(seconds=5))
    frozen.tick(5)
    env.set_state("sensor.p", 100, unit="kW")  # attributes only: last_changed stays
    s = env.get_state("sensor.p")
    assert s.last_changed == t0 and s.last_updated == s.last_reported == t0 + dt.timedelta(seconds=10)
    frozen.tick(5)
    env.set_state("sensor.p", 200)  # attributes replaced, not merged
    s = env.get_state("sensor.p")
    assert s == "200" and s.last_changed == t0 + dt.timedelta(seconds=15) and not hasattr(s, "unit")
    assert s.last_changed.tzinfo == UTC and s.entity_id == "sensor.p"


def test_state_validation_like_ha(env_factory):
    env = env_factory()
    with pytest.raises(HomeAssistantError, match="Invalid entity id"):
        env.set_state("Sensor..bad", 1)
    with pytest.raises(HomeAssistantError, match="max length is 255"):
        env.set_state("sensor.long", "x" * 256)
    env.set_state("Sensor.Mixed", 1)
    assert env.get_state("sensor.mixed") == "1"


def test_stateval_helpers():
    env_state = type("S", (), dict(entity_id="sensor.x", state="12.5", attributes={"a": 1},
                                   last_changed=None, last_updated=None, last_reported=None))
    v = StateVal(env_state)
    assert v == "12.5" and v.a == 1 and v.as_float() == 12.5 and v.as_int() == 12 and v.has_value()
    env_state.state = "unavailable"
    u = StateVal(env_state)
    assert u.is_unavailable() and not u.is_unknown() and not u.has_value()
    assert u.as_float(0.0) == 0.0 and u.as_int(-1) == -1
    with pytest.raises(ValueError, match="float got invalid input 'unavailable'"):
        u.as_float()
    env_state.state = "on"
    assert StateVal(env_state).as_bool() is True


# --------------------------------------------------------------------------- state triggers
APP_TRIGGERS = """
    runs = []

    @state_trigger("sensor.p")
    def on_value(value, old_value, var_name):
        runs.append(("value", var_name, None if old_value is None else str(old_value),
                     None if value is None else str(value)))

    @state_trigger("sensor.p.*")
    def on_attrs(value):
        runs.append(("attrs", None if value is None else value.unit))

    @state_trigger(["sensor.q.mode", "sensor.r"])
    def on_mode(**kwargs):
        runs.append(("mode", kwargs["var_name"], kwargs["trigger_type"], "context" in kwargs))
"""


def test_state_trigger_semantics(load):
    env, app = load(APP_TRIGGERS)
    runs = app["runs"]
    env.set_state("sensor.p", 1, unit="W")      # created: value + attrs
    env.set_state("sensor.p", 1, unit="W")      # unchanged: nothing (no state_changed)
    env.set_state("sensor.p", 1, unit="kW")     # attribute-only: only ".*"
    env.set_state("sensor.p", 2, unit="kW")     # value-only: only "sensor.p"
    env.set_state("sensor.q", "x", mode="a")
    env.set_state("sensor.q", "y", mode="a")    # attr "mode" unchanged: nothing
    env.set_state("sensor.r", "on")
    env.remove_state("sensor.p")                # deleted: value None
    assert runs == [
        ("value", "sensor.p", None, "1"), ("attrs", "W"),
        ("attrs", "kW"),
        ("value", "sensor.p", "1", "2"),
        ("mode", "sensor.q", "state", True),
        ("mode", "sensor.r", "state", True),
        ("value", "sensor.p", "2", None), ("attrs", None),  # deletion changes the attributes too
    ]
    env.assert_no_errors()


def test_triggers_wait_for_start(load):
    env, app = load(APP_TRIGGERS, start=False)
    env.set_state("sensor.p", 1)
    assert app["runs"] == []
    env.start()
    env.set_state("sensor.p", 2)
    assert app["runs"] == [("value", "sensor.p", "1", "2")]


def test_trigger_kwarg_dropping_and_binding_errors(load):
    env, app = load("""
        got = []

        @state_trigger("sensor.a")
        def nothing_declared():
            got.append("plain")

        @state_trigger("sensor.a", kwargs={"extra": 5})
        def undeclared_user_kwarg(value):
            got.append("never")

        @state_trigger("sensor.a", kwargs={"extra": 5})
        def declared_user_kwarg(extra, trigger_type):
            got.append((extra, trigger_type))
    """)
    env.set_state("sensor.a", 1)
    assert sorted(map(str, app["got"])) == sorted(["plain", "(5, 'state')"])
    (err,) = env.errors()
    assert "undeclared_user_kwarg() called with unexpected keyword arguments: extra" in err


def test_exception_in_trigger_is_logged_not_raised(load):
    env, app = load("""
        done = []

        @state_trigger("sensor.a")
        def boom(value):
            x = 1
            return x / 0

        @state_trigger("sensor.a")
        def fine(value):
            done.append(str(value))
    """)
    env.set_state("sensor.a", 3)
    assert app["done"] == ["3"]
    (lvl, logger, msg), = [rec for rec in env.logs if rec[0] == "ERROR"]
    assert logger == "custom_components.pyscript.apps.t.boom"
    assert msg.startswith("Exception in <apps.t.boom> line 7:\n        return x / 0\n")
    assert msg.endswith("ZeroDivisionError: division by zero")
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        env.assert_no_errors()


def test_trigger_runs_after_the_running_function(load):
    env, app = load("""
        order = []

        @state_trigger("sensor.a")
        def first(value):
            state.set("pyscript.b", int(value) + 1)
            order.append("first done")

        @state_trigger("pyscript.b")
        def second(value):
            order.append("second " + value)
    """)
    env.set_state("sensor.a", 1)
    assert app["order"] == ["first done", "second 2"]


def test_trigger_dies_with_its_function(load):
    env, app = load("""
        hits = []
        keep = []

        def make(entity, keep_it):
            @state_trigger(entity)
            def handler(value):
                hits.append(entity)
            if keep_it:
                keep.append(handler)

        make("sensor.kept", True)
        make("sensor.dropped", False)
    """)
    env.set_state("sensor.kept", 1)
    env.set_state("sensor.dropped", 1)
    assert app["hits"] == ["sensor.kept"]
    assert [spec for _, spec, _ in env.trigger_functions()] == [("sensor.kept",)]


def test_unsupported_trigger_forms_raise(load):
    with pytest.raises(StubLimitation, match="only 'domain.entity'"):
        load("""
            @state_trigger("float(sensor.a) > 5")
            def f():
                pass
        """)
    with pytest.raises(StubLimitation, match="state_hold"):
        load("""
            @state_trigger("sensor.a", state_hold=5)
            def f():
                pass
        """)
    with pytest.raises(StubLimitation, match="once"):
        load("""
            @time_trigger("once(07:00)")
            def f():
                pass
        """)


# --------------------------------------------------------------------------- time triggers
def test_period_midnight_every_5s_and_startup(load, frozen):
    frozen.move_to("2025-01-06 10:00:02")
    env, app = load("""
        ticks = []

        @time_trigger("startup")
        def boot(trigger_type, trigger_time):
            ticks.append((trigger_type, trigger_time))

        @time_trigger("period(midnight, 5s)")
        def tick(trigger_time):
            ticks.append(trigger_time.strftime("%H:%M:%S"))
    """)
    env.run_time_triggers()                      # 10:00:02: nothing due
    for _ in range(4):
        frozen.tick(1)                           # 10:00:03 .. 10:00:06
        env.run_time_triggers()
    frozen.tick(4)                               # 10:00:10
    env.run_time_triggers()
    env.run_time_triggers()                      # same instant: not again
    frozen.move_to("2025-01-06 10:01:02")        # jump: fires once (at its due time), re-aligns
    env.run_time_triggers()
    frozen.tick(3)
    env.run_time_triggers()
    assert app["ticks"] == [("time", "startup"), "10:00:05", "10:00:10", "10:00:15", "10:01:05"]


def test_period_now_and_cron(load, frozen):
    frozen.move_to("2025-01-06 10:00:02")
    env, app = load("""
        ticks = []

        @time_trigger("period(now, 10s)")
        def every10(trigger_time):
            ticks.append(("p", trigger_time.strftime("%M:%S")))

        @time_trigger("cron(*/2 * * * *)")
        def every2min(trigger_time):
            ticks.append(("c", trigger_time.strftime("%M:%S")))

        @time_trigger("cron(* * * * * */20)")
        def every20s(trigger_time):
            ticks.append(("s", trigger_time.strftime("%M:%S")))
    """)
    assert app["ticks"] == [("p", "00:02")]      # period(now, ...) fires at start
    for _ in range(12):
        frozen.tick(10)
        env.run_time_triggers()
    assert app["ticks"][1:] == [
        ("p", "00:12"), ("s", "00:20"), ("p", "00:22"), ("p", "00:32"), ("s", "00:40"), ("p", "00:42"),
        ("p", "00:52"), ("s", "01:00"), ("p", "01:02"), ("p", "01:12"), ("s", "01:20"), ("p", "01:22"),
        ("p", "01:32"), ("s", "01:40"), ("p", "01:42"), ("p", "01:52"), ("c", "02:00"), ("s", "02:00"),
        ("p", "02:02"),
    ]


def test_period_time_of_day_start_and_startup_combined(load, frozen):
    frozen.move_to("2025-01-06 06:30:00")
    env, app = load("""
        ticks = []

        @time_trigger("period(07:00, 1h)")
        def hourly(trigger_time):
            ticks.append(("h", trigger_time.strftime("%d %H:%M")))

        @time_trigger("startup", "period(now, 30min)")
        def both(trigger_time):
            ticks.append(("b", trigger_time if trigger_time == "startup" else trigger_time.strftime("%d %H:%M")))
    """)
    for when in ("2025-01-06 07:00", "2025-01-06 08:00", "2025-01-06 23:00", "2025-01-07 00:00",
                 "2025-01-07 07:00"):
        frozen.move_to(when)
        env.run_time_triggers()
    assert app["ticks"] == [
        ("b", "startup"),                       # period(now) does not fire again at the startup instant
        ("h", "06 07:00"), ("b", "06 07:00"),   # 07:00 = 06:30 + 30min
        ("b", "06 07:30"), ("h", "06 08:00"),   # due-time order
        ("b", "06 08:30"), ("h", "06 09:00"),   # jump: each fires once, with its due time
        ("b", "06 23:30"), ("h", "07 00:00"),   # timer_trigger_next: 00:00 still follows 07:00 + 17h
        ("b", "07 00:30"), ("h", "07 07:00"),   # then start is today's 07:00 again
    ]


def test_task_create_executor_and_state_check_now(load):
    env, app = load("""
        out = []

        def later(x, value=None):
            out.append(("later", x, value))

        @state_trigger("sensor.a", state_check_now=True)
        def go(value):
            task.create(later, 1, value=str(value))
            out.append(("go", task.executor(abs, -2)))
            try:
                task.executor(later, 2)
            except TypeError as exc:
                out.append(str(exc))
    """)
    env.set_state("sensor.a", 5)
    assert app["out"] == [("go", 2), "pyscript functions can't be called from task.executor - must be a "
                          "regular python function", ("later", 1, "5")]


def test_empty_time_trigger_call_never_fires_and_bare_means_startup(load):
    env, app = load("""
        runs = []

        @time_trigger()
        def empty():
            runs.append("empty")

        @time_trigger
        def bare():
            runs.append("bare")
    """)
    assert app["runs"] == ["bare"]


# --------------------------------------------------------------------------- app config, globals
def test_app_config_copy_and_missing_config(env_factory, write_app):
    cfg = {"meter": "sensor.p", "limits": [1, 2]}
    env = env_factory(cfg, app_name="t")
    app = env.load_app(write_app("c = pyscript.app_config\nname = __name__\n"))
    cfg["limits"].append(3)
    assert app["c"] == {"meter": "sensor.p", "limits": [1, 2]} and app["name"] == "t"
    for empty in (None, {}):
        env = env_factory(empty, app_name="t")
        env.load_app(write_app("c = pyscript.app_config\n"))
        (err,) = env.errors()
        assert "NameError: name 'pyscript.app_config' is not defined" in err


def test_module_level_exception_stops_the_file(load):
    env, app = load("""
        @state_trigger("sensor.a")
        def f():
            pass

        raise RuntimeError("bad config")
    """)
    (err,) = env.errors()
    assert err.startswith("Exception in <") and "line 6" in err and "RuntimeError: bad config" in err
    assert env.trigger_functions() == []


def test_log_names_formatting_and_print(load):
    env, app = load("""
        log.info("module %s", "level")

        @state_trigger("sensor.a")
        def f(value):
            log.warning("v=%s", value)
            print("printed %d", 3)
    """)
    env.set_state("sensor.a", 7)
    assert env.logs[0] == ("INFO", "custom_components.pyscript.apps.t", "module level")
    assert ("WARNING", "custom_components.pyscript.apps.t.f", "v=7") in env.logs
    assert ("DEBUG", "custom_components.pyscript.apps.t.f", "printed 3") in env.logs
    assert env.errors() == ["v=7"]


def test_imports_follow_pyscript_rules(load, tmp_path):
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "stub_test_helper_mod.py").write_text("def double(x):\n    return 2 * x\n")
    env, app = load("""
        import math
        import stub_test_helper_mod
        from stubs.pyscript_builtins import state
        y = stub_test_helper_mod.double(math.floor(2.5))
        import os
    """, pyscript_dir=tmp_path)
    assert app["y"] == 4 and app["state"].__class__.__name__ == "_StateAPI"
    (err,) = env.errors()
    assert "ModuleNotFoundError: import of os not allowed" in err
    env, app = load("import os\nok = True\n", allow_all_imports=True)
    assert app["ok"]
    env, app = load("try:\n    open\nexcept NameError:\n    missing = True\n")
    assert app["missing"]


def test_pyscript_incompatible_code_is_refused(load):
    with pytest.raises(PyscriptIncompatible, match="generator expression"):
        load("total = sum(x for x in [1, 2])\n")
    with pytest.raises(PyscriptIncompatible, match="lambda uses local variable 'limit'"):
        load("def f(xs, limit):\n    return sorted(xs, key=lambda x: abs(x - limit))\n")
    # native code may do anything
    load("@pyscript_compile\ndef f(xs):\n    return sum(x for x in xs)\n")


def test_task_sleep_is_a_stub_limitation_even_if_caught(load):
    env, app = load("""
        @state_trigger("sensor.a")
        def f():
            try:
                task.sleep(1)
            except Exception:
                pass
    """)
    with pytest.raises(StubLimitation, match="task.sleep"):
        env.set_state("sensor.a", 1)


# --------------------------------------------------------------------------- state.* API
def test_state_api_semantics(load):
    env, app = load("""
        def run():
            state.set("pyscript.x", 5, new_attributes={"a": 1})
            state.set("pyscript.x", b=2)                  # keeps value, merges kwargs
            r1 = state.get("pyscript.x"), state.getattr("pyscript.x")
            state.set("pyscript.x", 6.0)                  # keeps attributes
            state.setattr("pyscript.x.c", 3)
            state.delete("pyscript.x.a")
            r2 = (state.get("pyscript.x"), state.get("pyscript.x.c"),
                  state.get("pyscript.x.last_changed") is not None, state.exist("pyscript.x.nope"))
            copy = state.get("pyscript.x")
            state.set("pyscript.y", copy)                 # a StateVal carries its attributes
            r3 = state.getattr("pyscript.y"), state.names("pyscript")
            errors = []
            for bad in ("sensor.missing", "pyscript.x.nope"):
                try:
                    state.get(bad)
                except (NameError, AttributeError) as exc:
                    errors.append(str(exc))
            try:
                state.persist("sensor.bad")
            except NameError as exc:
                errors.append(str(exc))
            return r1, r2, r3, errors
    """)
    r1, r2, r3, errors = app["run"]()
    assert r1 == ("5", {"a": 1, "b": 2})
    assert r2 == ("6.0", 3, True, False)
    assert r3 == ({"b": 2, "c": 3}, ["pyscript.x", "pyscript.y"])
    assert errors == ["name 'sensor.missing' is not defined", "state 'pyscript.x' has no attribute 'nope'",
                      "invalid name sensor.bad (should be 'pyscript.entity')"]



def test_state_get_of_an_attribute_is_getattr_of_the_full_stateval(load):
    """The fast path for "d.e.attr" gives what pyscript's getattr(StateVal(state), attr) gives."""
    env, app = load("""
        def run(names):
            out = []
            for name in names:
                try:
                    out.append(state.get(name))
                except (NameError, AttributeError) as exc:
                    out.append(type(exc).__name__ + ": " + str(exc))
            return out
    """)
    env.set_state("sensor.p", "12", unit_of_measurement="W", upper="attribute wins", entity_id="x")
    attrs = ("unit_of_measurement", "upper", "entity_id", "last_reported", "last_changed",
             "as_float", "nope", "__class__")
    got = app["run"]([f"sensor.p.{a}" for a in attrs])
    full = StateVal(env._get("sensor.p"))
    assert got[:5] == [getattr(full, a) for a in attrs[:5]]
    assert got[2] == "sensor.p"                      # the virtual attribute beats the attribute
    assert got[5]() == 12.0                          # a StateVal method, bound to the state
    assert got[6] == "AttributeError: state 'sensor.p' has no attribute 'nope'"
    assert got[7] is StateVal

# --------------------------------------------------------------------------- services
APP_CALLER = """
    results = []

    @state_trigger("sensor.cmd")
    def go(value):
        blocking = value.endswith("!")
        amps = float(value.rstrip("!"))
        try:
            r = service.call("number", "set_value", entity_id="number.wb", value=amps, blocking=blocking)
            results.append(("ok", r))
        except Exception as exc:
            results.append((type(exc).__name__, str(exc)))
"""


def test_number_entity_blocking_and_non_blocking(load):
    env, app = load(APP_CALLER)
    calls = env.register_number_entity("number.wb", min=6, max=32, value=16)
    assert env.get_state("number.wb") == "16.0" and env.get_state("number.wb").max == 32
    env.set_state("sensor.cmd", "20")
    assert env.get_state("number.wb") == "20.0"
    env.set_state("sensor.cmd", "40")              # non-blocking: app sees nothing, HA logs
    env.set_state("sensor.cmd", "40!")             # blocking: raised into the app
    assert app["results"] == [("ok", None), ("ok", None),
                              ("ServiceValidationError", "Value 40.0 for number.wb is outside valid range 6 - 32.")]
    (err,) = env.errors()
    assert err.startswith("Error executing service: <ServiceCall number.set_value") and "40.0" in err
    assert [c["blocking"] for c in calls] == [False, False, True] and env.calls == calls
    assert calls[0] == {"domain": "number", "service": "set_value",
                        "data": {"entity_id": "number.wb", "value": 20.0}, "blocking": False}
    assert env.get_state("number.wb") == "20.0"


def test_number_handler_429_no_effect_and_unavailable(load):
    env, app = load(APP_CALLER)
    mode = {"v": "429"}

    def cloud(entity_id, value):
        if mode["v"] == "429":
            raise HomeAssistantError(translation_domain="wallbox", translation_key="too_many_requests")
        if mode["v"] == "ignore":
            return False
        return int(value)

    env.register_number_entity("number.wb", value=16, handler=cloud)
    env.set_state("sensor.cmd", "10!")
    mode["v"] = "ignore"
    env.set_state("sensor.cmd", "11!")
    assert env.get_state("number.wb") == "16.0"
    mode["v"] = "ok"
    env.set_state("sensor.cmd", "12!")
    assert env.get_state("number.wb") == "12"
    env.set_state("number.wb", "unavailable", **env.get_state("number.wb").__dict__)
    env.set_state("sensor.cmd", "13!")              # skipped silently
    assert app["results"] == [("HomeAssistantError", "too_many_requests"), ("ok", None), ("ok", None), ("ok", None)]
    env.assert_no_errors()


def test_service_schema_and_missing_entities(load):
    env, app = load("""
        out = []

        @state_trigger("sensor.cmd")
        def go(value):
            for data in ({"entity_id": "number.wb"}, {"entity_id": "number.wb", "value": "x"},
                         {"entity_id": "number.gone", "value": 7}):
                try:
                    out.append(service.call("number", "set_value", **data))
                except Exception as exc:
                    out.append(type(exc).__name__ + ": " + str(exc))
    """)
    env.register_number_entity("number.wb")
    env.set_state("sensor.cmd", 1)
    assert app["out"] == ["Invalid: required key not provided @ data['value']",
                          "Invalid: expected float for dictionary value @ data['value']", None]
    assert env.errors() == ["Referenced entities number.gone are missing or not currently available"]


def test_unknown_service(load):
    env, app = load("""
        out = []

        @state_trigger("sensor.cmd")
        def go():
            out.append(service.has_service("nope", "x"))
            for kwargs in ({}, {"blocking": True}, {"return_response": False}):
                try:
                    service.call("nope", "x", **kwargs)
                except Exception as exc:
                    out.append((type(exc).__name__, str(exc)))
    """)
    env.set_state("sensor.cmd", 1)
    assert app["out"] == [False, ("KeyError", "'nope'"), ("KeyError", "'nope'"),
                          ("ServiceNotFound", "Action nope.x not found.")]
    assert env.calls == []
    with pytest.raises(ServiceNotFound):
        env.call_service("nope", "x")


def test_switch_entity(load):
    env, app = load("""
        @state_trigger("sensor.cmd")
        def go(value):
            service.call("switch", "turn_" + value, entity_id="switch.pause")
    """)
    calls = env.register_switch_entity("switch.pause", state="on", friendly_name="Pause")
    env.set_state("sensor.cmd", "off")
    assert env.get_state("switch.pause") == "off" and env.get_state("switch.pause").friendly_name == "Pause"
    env.set_state("switch.pause", "unavailable")
    env.set_state("sensor.cmd", "on")
    assert env.get_state("switch.pause") == "unavailable" and len(calls) == 2
    env.assert_no_errors()


def test_registered_handler_and_entity_service_attribute(load):
    env, app = load("""
        @state_trigger("sensor.cmd")
        def go(value):
            state.get("number.wb.set_value")(float(value), blocking=True)
            service.call("notify", "me", message="hi " + value)
    """)
    got = []
    notify_calls = env.register_service("notify", "me", lambda **data: got.append(data))
    env.register_number_entity("number.wb")
    env.set_state("sensor.cmd", "8")
    assert env.get_state("number.wb") == "8.0" and got == [{"message": "hi 8"}]
    assert notify_calls == [{"domain": "notify", "service": "me", "data": {"message": "hi 8"}, "blocking": False}]


def test_app_service_registration_and_call(load):
    env, app = load("""
        modes = []

        @service
        def t_set_mode(mode=None, trigger_type=None):
            modes.append((mode, trigger_type))

        @service("pyscript.t_answer", supports_response="optional")
        def answer(x):
            return {"double": 2 * x}
    """)
    env.call_service("pyscript", "t_set_mode", mode="eco")
    assert app["modes"] == [("eco", "service")]
    assert env.call_service("pyscript", "t_answer", return_response=True, x=4) == {"double": 8}
    env.call_service("pyscript", "t_set_mode", bogus=1)
    (err,) = env.errors()
    assert "t_set_mode() called with unexpected keyword arguments: bogus" in err
    assert env.calls == []  # calls from outside the app are not app calls


# --------------------------------------------------------------------------- reload / restart
APP_RELOADABLE = """
    cfg = pyscript.app_config
    task.unique("wallbox_balancer_main")
    state.persist("pyscript.t_kept", default_value="0", default_attributes={"unit": "A"})

    @time_trigger("startup")
    def boot():
        state.set("pyscript.t_boots", int(state.get("pyscript.t_boots")) + 1 if state.exist("pyscript.t_boots") else 1)
        state.set("sensor.t_app_made", "x")

    @time_trigger("shutdown")
    def bye():
        log.info("shutdown %s", cfg["k"])

    @state_trigger("sensor.a")
    def on_a(value):
        state.set("pyscript.t_kept", value)
        log.info("on_a %s %s", cfg["k"], value)

    @service
    def t_ping():
        log.info("ping %s", cfg["k"])
"""


def test_reload_replaces_triggers_and_services(load):
    env, app = load(APP_RELOADABLE)
    env.set_state("sensor.a", 1)
    env.reload(app_config={"k": 2})
    env.set_state("sensor.a", 2)
    env.call_service("pyscript", "t_ping")
    infos = [msg for lvl, _, msg in env.logs if lvl == "INFO" and not msg.startswith(("Loaded", "Reloaded"))]
    assert infos == ["on_a 1 1", "shutdown 1", "on_a 2 2", "ping 2"]
    assert env.get_state("pyscript.t_boots") == "2"          # states survive reload
    assert [kind for kind, _, _ in env.trigger_functions()] == ["time", "time", "state", "service"]
    first, second = env.task_uniques
    assert second["kills"] == {k: v for k, v in first.items() if k != "kills"}
    assert second["generation"] == first["generation"] + 1 and second["function"] is None


def test_restart_restores_persisted_pyscript_states_only(load, frozen):
    env, app = load(APP_RELOADABLE, restore={"pyscript.t_old": ("7", {"u": 1}), "sensor.ignored": "3"})
    assert env.get_state("pyscript.t_old") == "7"             # restored at setup
    assert env.get_state("pyscript.t_kept") == "0" and env.get_state("pyscript.t_kept").unit == "A"
    env.set_state("sensor.a", "5", unit_of_measurement="W", other=1)
    env.register_number_entity("number.wb", value=10)
    frozen.tick(60)
    env.restart()
    kept = env.get_state("pyscript.t_kept")
    assert kept == "5" and kept.unit == "A" and kept.last_changed == env.now()
    assert env.get_state("pyscript.t_boots") == "1"           # not persisted: gone, startup ran again
    assert env.get_state("pyscript.t_old") is None            # restored but never persisted
    sensor = env.get_state("sensor.a")
    assert sensor == "unavailable" and sensor.__dict__ == {
        "restored": True, "unit_of_measurement": "W", "entity_id": "sensor.a",
        "last_changed": env.now(), "last_updated": env.now(), "last_reported": env.now()}
    assert env.get_state("number.wb").min == 6
    assert env.get_state("sensor.t_app_made") == "x"           # recreated by the new startup
    assert "shutdown 1" in [msg for _, _, msg in env.logs]


def test_restart_without_start(load):
    env, app = load(APP_RELOADABLE)
    env.restart(start=False)
    assert env.get_state("pyscript.t_boots") is None
    env.start()
    assert env.get_state("pyscript.t_boots") == "1"


def test_event_trigger_and_fire(load):
    env, app = load("""
        got = []

        @event_trigger("my_event")
        def on_event(event_type, who=None):
            got.append((event_type, who))

        @state_trigger("sensor.a")
        def fire():
            event.fire("my_event", who="app")
    """)
    env.fire_event("my_event", who="test")
    env.set_state("sensor.a", 1)
    assert app["got"] == [("my_event", "test"), ("my_event", "app")]
    assert env.events == [("my_event", {"who": "app"})]
