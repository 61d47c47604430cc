"""The replay and the benchmark with prices and sun (issue 16): the options, the price entity the app
is shown, the cost table with the bound and the evcc-style plan, the benchmark's price axis. Every
replay here is at most 16 simulated hours and runs no real app."""

from datetime import datetime, timedelta

import pytest

from tools import benchmark, replay_args, replay_run
from tools.app_controller import AppController, app_config, app_reads_prices
from tools.benchmark import Cell
from tools.plant import TZ, Plant, PlantParams
from tools.prices import PRICE_ENTITY, PriceSpec
from test_sim_sessions_mode import quiet_app, run_cli, write_trace  # noqa: F401  (quiet_app: the fixture)

MONDAY = datetime(2025, 1, 6, tzinfo=TZ)


def write_prices(tmp_path, cheap=(2, 3, 4), name="BE_test.csv"):
    """Hourly prices for Monday and Tuesday 6-7 January 2025: 100 EUR/MWh, 10 in the cheap hours."""
    rows = ["start,eur_per_mwh"]
    for h in range(48):
        rows.append(f"{(MONDAY + timedelta(hours=h)).isoformat()},{10 if h % 24 in cheap else 100}")
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_a_replay_with_prices_prints_what_the_cars_energy_costs_against_the_bound(capsys, tmp_path):
    status, out, err = run_cli(capsys, write_trace(tmp_path), "--sessions", "generated",
                               "--prices", write_prices(tmp_path), "--controllers", "uncontrolled,evcc")
    assert status == 0, err
    table = out[out.index("| controller | car kWh | energy € |"):]
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in table.splitlines()
            if line.startswith("| ") and "---" not in line and "controller" not in line}
    assert list(rows) == ["uncontrolled", "evcc", "bound"]
    energy = {name: float(cells[2]) for name, cells in rows.items()}
    # plug-and-charge pays the evening's 100 EUR/MWh; evcc-style and the bound wait for 02:00-05:00
    assert energy["bound"] <= energy["evcc"] < energy["uncontrolled"]
    assert rows["uncontrolled"][8].strip() == "0 % |" and rows["bound"][8].strip() == "100 % |"
    assert rows["evcc"][4] != "+0"               # 7.36 kW at night on a 1 kW house: above the 5 kW peak
    assert "BE_test (day for day), import (spot x 1 + 0.02 + 0.06 + 0.052) x 1.06 EUR/kWh" in table
    assert "bound: the prescient lower bound, a linear program (HiGHS)" in table


@pytest.mark.parametrize("argv, expected", [
    (["--price-formula", "factor=1.1"], "--price-formula prices the car's energy: it needs --prices FILE"),
    (["--prices", "p.csv", "--export-price", "fee"],
     "--export-price 'fee': expected factor=N,fee=N, got 'fee'"),
    (["--sessions", "generated", "--controllers", "evcc"],
     "the evcc baseline plans each session by price: it needs --sessions and --prices"),
    (["--prices", "p.csv", "--controllers", "safest"],
     "the safest baseline plans each session by price: it needs --sessions and --prices"),
    (["--controllers", "app,solar"], "the app's mode solar charges from the panels' surplus: it needs --pv"),
])
def test_bad_price_arguments_give_one_line_and_exit_2(capsys, argv, expected):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == "" and err.strip() == f"replay: {expected}"


def test_a_bad_price_or_pv_file_is_refused_in_one_line(capsys, tmp_path):
    trace = write_trace(tmp_path, hours=2)
    status, _, err = run_cli(capsys, trace, "--prices", str(tmp_path / "none.csv"), "--controllers", "uncontrolled")
    assert status == 2 and err.strip() == f"replay: {tmp_path / 'none.csv'}: No such file or directory"
    pv = tmp_path / "pv.csv"
    pv.write_text("timestamp,pv_w\n2025-01-06T12:00:00+01:00,100\n2025-01-06T13:00:00+01:00,100\n")
    status, _, err = run_cli(capsys, trace, "--pv", str(pv), "--controllers", "uncontrolled")
    assert status == 2 and err.strip() == f"replay: {pv}: rows every 60 minutes; expected 15"


def test_with_prices_and_sessions_the_default_controllers_add_the_safest_plan_and_evcc():
    args = replay_args.parse_args(["--sessions", "generated", "--prices", "p.csv"])
    assert replay_args.controller_names(args) == ["app", "original", "uncontrolled", "timer", "safest", "evcc"]


def test_the_app_in_mode_solar_is_asked_for_with_pv_only_and_set_to_it_at_the_start():
    args = replay_args.parse_args(["--sessions", "generated", "--pv", "pv.csv"])
    assert "solar" not in replay_args.controller_names(args)  # not in the default runs
    assert replay_args._check_controllers(replay_args.parse_args(["--pv", "pv.csv", "--controllers", "app,solar"])) == []
    from tools.controllers import make_controller
    solar = make_controller("solar")
    assert isinstance(solar, AppController) and solar.name == "solar" and solar.mode == "solar"
    assert make_controller("app").mode is None


def test_the_app_is_shown_the_price_entity_and_gets_the_key_once_it_takes_it(quiet_app, tmp_path):  # noqa: F811
    spec = PriceSpec.read(write_prices(tmp_path))
    start = (MONDAY + timedelta(hours=12)).timestamp()
    series = spec.over(start, start + 2 * 3600)
    trace_path = write_trace(tmp_path, hours=2)
    from tools.traces import load_csv
    ctl = AppController(quiet_app, prices=series)
    Plant(load_csv(trace_path), PlantParams(), start, start + 2 * 3600).run(ctl)
    state = ctl.env.get_state(PRICE_ENTITY)
    attributes = vars(state)
    assert float(state) == pytest.approx(spec.formula.eur_per_kwh(100))
    assert len(attributes["raw_today"]) == 24 and len(attributes["raw_tomorrow"]) == 24
    assert attributes["unit_of_measurement"] == "EUR/kWh"
    # the app's configuration takes `price` (issue 16): the simulator hands it both keys
    assert app_reads_prices()
    config = app_config(PlantParams(), series)
    assert config["price"] == PRICE_ENTITY and config["export_price"] == "sensor.sim_export_price"


def test_the_benchmark_price_axis(tmp_path):
    prices = write_prices(tmp_path)
    paths = [str(tmp_path / "H1_1p_2025-01.csv"), str(tmp_path / "H3_3p_2025-07.csv")]
    shared = tmp_path / "shared"
    shared.mkdir()
    for month in ("2025-01", "2025-07", "2025-10"):
        (shared / f"BE_{month}.csv").write_text("start,eur_per_mwh\n")
    chosen = benchmark.choose_files("own", paths, str(shared), "--prices", "own", "shared", None)
    assert chosen == {paths[0]: [str(shared / "BE_2025-01.csv")], paths[1]: [str(shared / "BE_2025-07.csv")]}
    assert len(benchmark.choose_files("shared", paths, str(shared), "--prices", "own", "shared", None)[paths[0]]) == 3
    with pytest.raises(ValueError, match="--prices: nope.csv is not a file"):
        benchmark.choose_files("nope.csv", paths, str(shared), "--prices", "own", "shared", None)
    cells = benchmark.build_cells(paths[:1], ["reference"], [1, None], [0], [prices], {paths[0]: [None, prices]})
    # prices in the session cells only; PV in every cell
    assert [(c.seed, c.prices, c.pv) for c in cells] == [(1, prices, None), (1, prices, prices),
                                                         (None, None, None), (None, None, prices)]
    assert cells[1].key == "H1_1p_2025-01__reference__s1__h0__BE_test__BE_test"
    assert cells[1].label == "H1_1p_2025-01 (BE_test, PV BE_test)"


def test_a_priced_benchmark_cell_reports_the_bound_and_the_baselines(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "PRICE_BASELINES", ("evcc", "uncontrolled"))   # no app: fast
    traces = tmp_path / "traces"
    traces.mkdir()
    write_trace(traces, name="T1.csv")
    argv = ["--traces-dir", str(traces), "--plants", "reference", "--seeds", "1", "--history", "0",
            "--controllers", "uncontrolled", "--prices", write_prices(tmp_path), "--jobs", "1",
            "--no-cache"]
    assert benchmark.main(argv) == 0
    out, err = capsys.readouterr()
    assert "### The car's energy € per trace and price month" in out
    row = next(line for line in out.splitlines() if line.startswith("| T1 | BE_test | none | 1 |"))
    cells = row.split(" | ")
    bound, app, safest, plug, evcc = cells[4:9]
    assert app == safest == "–" and float(bound) < float(plug.split()[0])
    assert "capacity" in evcc and "1/1 cells (worst +" in row
    result = benchmark.CellResult.from_dict(benchmark.run_cell(
        Cell(str(traces / "T1.csv"), "reference", 1, 0, write_prices(tmp_path)), ["uncontrolled"]).as_dict())
    assert result.cost("bound").energy_eur == pytest.approx(float(bound), abs=0.006)
    assert result.bound["status"] == "optimal"


def test_the_cost_gap_lists_the_sessions_and_one_quarter_by_quarter(capsys, tmp_path):
    """tools/cost_gap.py on the 16-hour trace: plug-and-charge pays Monday evening's 100 EUR/MWh where
    the bound waits for 02:00; its one session's gap, then that session quarter by quarter."""
    from tools import cost_gap
    traces = tmp_path / "traces"
    traces.mkdir()
    write_trace(traces, name="T1.csv")
    argv = ["--traces-dir", str(traces), "--trace", "T1", "--history", "0", "--prices",
            write_prices(tmp_path), "--controller", "uncontrolled", "--session", "2025-01-06T18:00"]
    assert cost_gap.main(argv) == 0
    out = capsys.readouterr().out
    assert "T1 (BE_test), reference, seed 1, 0 days of history" in out
    assert "uncontrolled: EUR " in out and "over 1 sessions" in out
    assert "| Mon 2025-01-06 18:00 | 2025-01-07 07:30 |" in out
    assert "sessions where uncontrolled delivered less than the bound: 0" in out
    assert "| Tue 2025-01-07 02:00 | " in out                       # the quarters of the session
    assert cost_gap.main(argv[:-1] + ["2025-01-06T19:00"]) == 2     # no session plugs in then
    with pytest.raises(SystemExit) as stop:                          # one line, not a traceback
        cost_gap.main(["--trace", "T1", "--controller", "nosuch"])
    assert stop.value.code == 2 and "invalid choice: 'nosuch'" in capsys.readouterr().err
