"""Tests of the stubs themselves: each models a behaviour of HA 2025.12.1 / pyscript 1.7.0 the app
relies on (the stubs model nothing else)."""

import datetime as dt

import pytest

from stubs import HomeAssistantError, PyscriptIncompatible, ServiceNotFound, StubLimitation

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


# --------------------------------------------------------------------------- triggers
APP_TRIGGERS = """
    runs = []

    @state_trigger("sensor.p")
    def on_value(value, old_value, var_name):
        runs.append(("value", var_name, None if old_value is None else str(old_value),
                     None if value is None else str(value)))

    @state_trigger("sensor.q")
    def on_q(**kwargs):
        runs.append(("q", kwargs["var_name"], kwargs["trigger_type"], "context" in kwargs))
"""


def test_state_trigger_fires_on_a_state_change_only(load):
    env, app = load(APP_TRIGGERS)
    env.set_state("sensor.p", 1, unit="W")      # created
    env.set_state("sensor.p", 1, unit="W")      # unchanged: nothing (no state_changed)
    env.set_state("sensor.p", 1, unit="kW")     # attribute-only: nothing
    env.set_state("sensor.p", 2, unit="kW")
    env.set_state("sensor.q", "x")
    env.remove_state("sensor.p")                # deleted: value None
    assert app["runs"] == [("value", "sensor.p", None, "1"), ("value", "sensor.p", "1", "2"),
                           ("q", "sensor.q", "state", True), ("value", "sensor.p", "2", None)]
    env.assert_no_errors()


def test_triggers_wait_for_start(load):
    env, app = load(APP_TRIGGERS, start=False)
    env.set_state("sensor.p", 1)
    assert app["runs"] == []
    env.start()
    env.set_state("sensor.p", 2)
    assert app["runs"] == [("value", "sensor.p", "1", "2")]


def test_binding_errors_are_logged_by_run_coro(load):
    env, app = load("""
        got = []

        @state_trigger("sensor.a")
        def nothing_declared():
            got.append("plain")

        @state_trigger("sensor.a")
        def needs_more(value, extra):
            got.append("never")
    """)
    env.set_state("sensor.a", 1)
    assert app["got"] == ["plain"]
    (err,) = env.errors()
    assert "needs_more() missing 1 required arguments: extra" in err


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


@pytest.mark.parametrize("decorator", ['@state_trigger("float(sensor.a) > 5")', '@time_trigger("once(07:00)")',
                                       '@time_trigger("cron(* * * * *)")', "@event_trigger('x')"])
def test_what_the_stubs_do_not_model_is_refused(load, decorator):
    with pytest.raises((StubLimitation, NameError)):
        load(f"{decorator}\ndef f():\n    pass\n")


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

        @time_trigger("period(now, 1min)")
        def minute(trigger_time):
            ticks.append("m " + trigger_time.strftime("%H:%M:%S"))
    """)
    env.run_time_triggers()                      # 10:00:02: nothing due
    for _ in range(4):
        frozen.tick(1)                           # 10:00:03 .. 10:00:06
        env.run_time_triggers()
    frozen.tick(4)                               # 10:00:10
    env.run_time_triggers()
    env.run_time_triggers()                      # same instant: not again
    frozen.move_to("2025-01-06 10:01:03")        # jump: each fires once (at its due time), re-aligns
    env.run_time_triggers()
    frozen.tick(3)
    env.run_time_triggers()
    assert app["ticks"] == [("time", "startup"), "m 10:00:02", "10:00:05", "10:00:10", "10:00:15",
                            "m 10:01:02", "10:01:05"]


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
    # but not call a pyscript function of its module: in pyscript that call returns a coroutine
    with pytest.raises(PyscriptIncompatible, match=r"native function f\(\) calls pyscript function g\(\)"):
        load("def g(x):\n    return x\n\n@pyscript_compile\ndef f(xs):\n    return [g(x) for x in xs]\n")
    load("def g(x):\n    return x\n\n@pyscript_compile\ndef f(xs, g=abs):\n    return [g(x) for x in xs]\n")


def test_state_api_semantics(load):
    env, app = load("""
        def run():
            state.set("pyscript.x", 5, new_attributes={"a": 1})
            state.set("pyscript.x", b=2)                  # keeps value, merges kwargs
            r1 = state.get("pyscript.x"), state.getattr("pyscript.x")
            state.set("pyscript.x", 6.0)                  # keeps attributes
            r2 = (state.get("pyscript.x"), state.get("pyscript.x.a"), state.get("pyscript.x.last_changed") is not None,
                  state.exist("pyscript.x.a"), state.exist("pyscript.x.nope"), state.exist("sensor.nope"))
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
            return r1, r2, errors
    """)
    r1, r2, errors = app["run"]()
    assert r1 == ("5", {"a": 1, "b": 2})
    assert r2 == ("6.0", 1, True, True, False, False)
    assert errors == ["name 'sensor.missing' is not defined", "state 'pyscript.x' has no attribute 'nope'",
                      "invalid name sensor.bad (should be 'pyscript.entity')"]


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
        return None

    env.register_number_entity("number.wb", value=16, handler=cloud)
    env.set_state("sensor.cmd", "10!")
    mode["v"] = "ignore"
    env.set_state("sensor.cmd", "11!")
    assert env.get_state("number.wb") == "16.0"
    mode["v"] = "ok"
    env.set_state("sensor.cmd", "12!")
    assert env.get_state("number.wb") == "12.0"
    env.set_state("number.wb", "unavailable", **env.get_state("number.wb").__dict__)
    env.set_state("sensor.cmd", "13!")              # skipped silently
    assert app["results"] == [("HomeAssistantError", "too_many_requests"), ("ok", None), ("ok", None), ("ok", None)]
    assert env.get_state("number.wb") == "unavailable"
    env.assert_no_errors()


def test_service_schema_and_missing_entities(load):
    env, app = load("""
        def go(*calls):
            out = []
            for data in calls:
                try:
                    out.append(service.call("number", "set_value", **data))
                except Exception as exc:
                    out.append(type(exc).__name__ + ": " + str(exc))
            return out
    """)
    env.register_number_entity("number.wb")
    out = app["go"]({"entity_id": "number.wb"}, {"entity_id": "number.wb", "value": "x"},
                    {"entity_id": "number.gone", "value": 7})
    assert out == ["Invalid: required key not provided @ data['value']",
                   "Invalid: expected float for dictionary value @ data['value']", None]
    assert env.errors() == ["Referenced entities number.gone are missing or not currently available"]


def test_unknown_service(load):
    env, app = load("""
        out = []

        @state_trigger("sensor.cmd")
        def go():
            out.append(service.has_service("nope", "x"))
            for kwargs in ({}, {"blocking": True}):
                try:
                    service.call("nope", "x", **kwargs)
                except Exception as exc:
                    out.append((type(exc).__name__, str(exc)))
    """)
    env.set_state("sensor.cmd", 1)
    assert app["out"] == [False, ("KeyError", "'nope'"), ("KeyError", "'nope'")]
    assert env.calls == []
    with pytest.raises(ServiceNotFound, match="Action nope.x not found."):
        env.call_service("nope", "x")


def test_service_responses_as_pyscript_and_ha_give_them(load):
    """Measured in real HA 2025.12.1 with pyscript 1.7.0 and master (the same table): a service
    that only answers with a response is called with one even when not asked; a response asked
    without blocking, or of a service that gives none, is a ServiceValidationError; an unknown
    service asked for a response is ServiceNotFound (no supports_response lookup, no KeyError)."""
    env, app = load("""
        out = []

        @state_trigger("sensor.cmd")
        def go():
            for name, args in (("only", {"return_response": True}), ("only", {}), ("only", {"blocking": True}),
                               ("only", {"return_response": True, "blocking": False}), ("only", {"return_response": False}),
                               ("none", {"return_response": True}), ("none", {"blocking": True}),
                               ("opt", {"return_response": True}), ("opt", {"blocking": True}), ("gone", {"return_response": True})):
                try:
                    out.append(service.call("test", name, **args))
                except Exception as exc:
                    out.append((type(exc).__name__, str(exc)))
    """)
    env.register_service("test", "only", lambda **data: {"a": 1}, supports_response="only")
    env.register_service("test", "none", lambda **data: {"ignored": 1})
    env.register_service("test", "opt", lambda **data: {"b": 2}, supports_response="optional")
    env.set_state("sensor.cmd", 1)
    assert app["out"] == [
        {"a": 1}, {"a": 1}, {"a": 1},
        ("ServiceValidationError", "service_should_be_blocking"), ("ServiceValidationError", "service_lacks_response_request"),
        ("ServiceValidationError", "service_does_not_support_response"), None,
        {"b": 2}, None, ("ServiceNotFound", "Action test.gone not found."),
    ]
    assert [c["blocking"] for c in env.calls] == [True, True, True, True, True, True]


def test_switch_entity(load):
    env, app = load("""
        @state_trigger("sensor.cmd")
        def go(value):
            service.call("switch", "turn_" + value, entity_id="switch.pause", blocking=True)
    """)
    calls = env.register_switch_entity("switch.pause", state="on")
    env.set_state("sensor.cmd", "off")
    assert env.get_state("switch.pause") == "off"
    env.set_state("switch.pause", "unavailable")
    env.set_state("sensor.cmd", "on")
    assert env.get_state("switch.pause") == "unavailable" and len(calls) == 2
    env.assert_no_errors()


def test_app_service_registration_and_call(load):
    env, app = load("""
        modes = []

        @service
        def t_set_mode(mode=None, trigger_type=None):
            modes.append((mode, trigger_type))
    """)
    env.call_service("pyscript", "t_set_mode", mode="eco")
    assert app["modes"] == [("eco", "service")]
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


# --------------------------------------------------------------------------- the harness's verbs
def test_stub_ha_speaks_the_harness_verbs(frozen):
    """stubs.harness.StubHA: what ../shared/harness's PyscriptHA does, for the shared plant."""
    import logging

    from stubs.harness import StubHA, run

    ha = StubHA(frozen)
    refused = ha.mock_service("number", "set_value", raise_exception=HomeAssistantError("too_many_requests"))
    with pytest.raises(HomeAssistantError):
        run(ha.call("number", "set_value", {"value": 7}))
    assert refused[0].data == {"value": 7}                     # recorded, then raised
    run(ha.set_state("sensor.p", 5, unit="W"))
    assert (ha.state("sensor.p"), ha.attrs("sensor.p"), ha.state("sensor.none")) == ("5", {"unit": "W"}, None)
    ha.env._log("WARNING", "custom_components.pyscript.apps.t", "careful")
    ha.env._log("WARNING", "homeassistant.core", "elsewhere")
    assert [r.getMessage() for r in ha.log_records()] == ["careful"]
    assert len(ha.log_records(logging.WARNING, logger="")) == 2 and ha.log_records(logging.ERROR) == []
    with pytest.raises(AssertionError, match="careful"):
        ha.assert_no_errors()
    start = ha.env.now()
    run(ha.advance(3))
    assert (ha.env.now() - start).total_seconds() == 3
