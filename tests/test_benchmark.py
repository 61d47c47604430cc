"""The benchmark's matrix (issue 15, tools/benchmark.py): the worst per column on fake results,
the raised cells, the slices, and one small real cell through the cache."""
from datetime import datetime

import pytest

from tools import benchmark
from tools.benchmark import Cell, CellResult
from tools.metrics import Metrics
from tools.plant import TZ
from test_sim_sessions_mode import write_trace

SAT_1215 = datetime(2025, 1, 11, 12, 15, tzinfo=TZ).timestamp()


def row(controller="app", increase=0.0, ratio=1.0, writes=2.0, peak_at=None):
    return Metrics(controller=controller, trace="t", peak_house_w=6000.0, peak_ev_w=6000.0 + increase,
                   ev_increase_w=increase, own_fault_w=0.0, exposure_max_w=0.0, exposure_sum_w=0.0,
                   ev_kwh=100.0 * ratio, oracle_kwh=100.0, writes=10, writes_per_h=1.0,
                   rejected_429=0, pauses=0, pauses_per_day=0.0, hours=744.0, wall_s=1.0,
                   writes_per_plugged_h=writes, peak_at=peak_at)


def result(trace, seed, days, app, met=(32, 32), failed=None):
    sessions = {} if seed is None else {"app": dict(sessions=32, met=met[0], oracle_can=met[1],
                                                    met_of_oracle_can=met[0], kwh_short=0.0)}
    return CellResult(Cell(f"/x/{trace}.csv", "reference", seed, days), [app, row("oracle")],
                      sessions, failed or {}, {}, 30.0)


RESULTS = [
    result("H1", 1, 0, row(increase=-26.0, writes=3.1)),
    result("H6", 2, 0, row(increase=426.0, writes=1.5, peak_at=SAT_1215), met=(31, 32)),
    result("H4", 1, 10, row(increase=0.4, writes=19.5)),
    result("H4", 2, 10, row(), failed={"app": "APP ERROR: boom"}),
    result("H1", None, 0, row(increase=-51.0, ratio=0.955)),
    result("H6", None, 0, row(increase=372.0, ratio=1.016, writes=12.0, peak_at=SAT_1215 + 900)),
]


def test_the_worst_per_column_is_taken_per_car_and_install_day():
    lines = benchmark.worst_rows(RESULTS)
    assert lines[2] == ("| sessions | no history | 2 | +426 (H6 reference seed 2) | 31/32 (H6 reference "
                        "seed 2); all cells 63/64 | 3.1 (H1 reference seed 1) | – |")
    # a failed cell is counted apart and never hides in a figure
    assert lines[3] == ("| sessions | after 10 days of history | 2 (**1 failed**) | +0 (H4 reference "
                        "seed 1) | 32/32 (H4 reference seed 1); all cells 32/32 | 19.5 (H4 reference "
                        "seed 1) | – |")
    assert lines[4] == ("| hungry | no history | 2 | +372 (H6 reference hungry) | – | 12.0 (H6 "
                        "reference hungry) | 95.5 % (H1 reference hungry) |")
    assert len(lines) == 5
    assert "| -26 (H1 reference seed 1; within the target) |" in benchmark.worst_rows(RESULTS[:1])[2]


def test_the_raised_cells_name_the_quarter_and_skip_what_rounds_to_zero():
    assert benchmark.raised_rows(RESULTS)[2:] == [
        "| H6 | reference | seed 2 | 0 | Sat 2025-01-11 12:15 | +426 |",
        "| H6 | reference | hungry | 0 | Sat 2025-01-11 12:30 | +372 |"]
    assert benchmark.raised_rows(RESULTS[:1]) == ["No cell where the car raised the billed peak."]


def test_a_result_survives_the_cache_round_trip():
    back = CellResult.from_dict(RESULTS[1].as_dict())
    assert back.cached and back.cell == RESULTS[1].cell and back.rows == RESULTS[1].rows
    assert back.sessions == RESULTS[1].sessions


def test_the_slices():
    assert benchmark.parse_seeds("1-3,hungry,2") == [1, 2, 3, None]
    with pytest.raises(ValueError, match="--seeds: 'x' is not a seed"):
        benchmark.parse_seeds("1,x")
    cells = benchmark.build_cells(["a.csv", "b.csv"], ["reference", "3phase"], [1, None], [0, 10])
    assert len(cells) == 16 and cells[0] == Cell("a.csv", "reference", 1, 0)
    assert cells[0].key == "a__reference__s1__h0" and cells[3].key == "a__reference__hungry__h10"


def test_bad_slices_give_one_line_each_and_exit_2(capsys, tmp_path):
    write_trace(tmp_path, hours=1, name="T1.csv")
    assert benchmark.main(["--traces-dir", str(tmp_path), "--plants", "5phase", "--controllers",
                           "app,foo", "--history", "-1"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "benchmark: unknown plant '5phase' in --plants (choose from reference, meter30, 3phase, local)",
        "benchmark: unknown controller 'foo' in --controllers (choose from app, original, "
        "uncontrolled, timer)",
        "benchmark: --history '-1': give whole numbers of days, 0 for none"]
    assert benchmark.main(["--traces-dir", str(tmp_path), "--traces", "H9"]) == 2
    assert capsys.readouterr().err == f"benchmark: no traces in {tmp_path} matching H9\n"


def test_a_small_matrix_runs_the_baselines_and_the_second_run_comes_from_the_cache(capsys, tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    write_trace(traces, name="T1.csv")
    argv = ["--traces-dir", str(traces), "--plants", "reference", "--seeds", "1,hungry", "--history",
            "0", "--controllers", "uncontrolled,timer", "--jobs", "1", "--cache", str(tmp_path / "c")]
    assert benchmark.main(argv) == 0
    out, err = capsys.readouterr()
    assert "| T1 | reference | seed 1 | 0 | uncontrolled | +" in out
    assert "| T1 | reference | seed 1 | 0 | timer |" in out
    assert "| T1 | reference | hungry | 0 | timer |" not in out        # no sessions: no timer
    assert "| T1 | reference | seed 1 | 0 | oracle | +0 | 1/1 | 0.0 |" in out
    assert "2 replayed, 0 from the cache" in err
    assert benchmark.main(argv) == 0
    again, err = capsys.readouterr()
    assert again == out
    assert "2 cells in" in err and ", 2 from the cache" in err


def _dies_once(args):
    """A worker killed from outside the first time (the marker file says it happened)."""
    import os
    cell, _, marker = args
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return CellResult(cell, [row(), row("oracle")], {}, {}, {}, 1.0)


def test_a_dead_worker_costs_only_its_cell_the_pool_starts_again(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(benchmark, "_cached_cell", _dies_once)   # forked workers see it too
    cells = [Cell("a.csv", "reference", 1, 0), Cell("a.csv", "reference", 2, 0)]
    results = benchmark.run_cells(cells, ["app"], str(tmp_path / "died"), 1)
    assert set(results) == set(cells)
    assert "a worker died; starting the pool again" in capsys.readouterr().err


def _from_another_checkout(args):
    """A cached result whose trace path names the checkout that ran it, not this one."""
    cell, _, _ = args
    elsewhere = Cell("/elsewhere/../shared/traces/" + cell.trace, cell.plant, cell.seed,
                     cell.history_days)
    return CellResult(elsewhere, [row(), row("oracle")], {}, {}, {}, 1.0, cached=True)


def test_a_cache_written_by_another_checkout_is_found(monkeypatch, tmp_path):
    monkeypatch.setattr(benchmark, "_cached_cell", _from_another_checkout)
    cells = [Cell("a.csv", "reference", 1, 0)]
    results = benchmark.run_cells(cells, ["app"], str(tmp_path / "c"), 1)
    assert list(results) == cells and results[cells[0]].cached


def test_the_price_rows_give_the_share_of_the_saving_on_energy_and_with_the_capacity():
    from tools.benchmark import price_rows, saving_share
    from tools.energy_cost import CarCost
    app, best = CarCost("app", 37.68, 0.0, 179.0, 0.0), CarCost("bound", 37.30, 0.0, 179.0, 0.0)
    pac = CarCost("uncontrolled", 39.08, 26.02, 179.0, 5356.0)
    assert round(saving_share(app, best, pac), 3) == round(1.40 / 1.78, 3)
    assert round(saving_share(app, best, pac, True), 3) == round(27.42 / 27.80, 3)
    assert saving_share(app, best, CarCost("uncontrolled", 37.30, 0.0, 179.0, 0.0)) is None
    r = result("H3", 1, 10, row())
    r.cell = Cell("/x/H3.csv", "reference", 1, 10, "/p/BE_2025-07.csv")
    r.costs = {c.controller: c.__dict__ for c in (app, best, pac, CarCost("safest", 42.81, 0.0, 179.0, 0.0),
                                                   CarCost("evcc", 37.29, 19.0, 179.0, 3556.0))}
    table = price_rows([r])
    assert table[2].endswith("| +1.0 % | 79 % | 99 % | +0 W, 32/32 | 1/1 cells (worst +3556 W) |")


def test_a_margin_is_part_of_the_cell_and_reaches_the_apps_config():
    """--margin: what the app would give with a smaller margin, beside the same oracle; its cells
    are cached apart from the default ones."""
    from dataclasses import replace

    from tools.app_controller import app_config
    from tools.benchmark import PLANTS, build_cells
    default, small = Cell("a.csv", "meter30", None, 0), Cell("a.csv", "meter30", None, 0, margin=50.0)
    assert default.key == "a__meter30__hungry__h0" and small.key == "a__meter30__hungry__h0__m50"
    assert small.label == "a (margin 50 W)"
    assert app_config(replace(PLANTS["meter30"][1], margin=50.0))["margin"] == 50
    assert app_config(PLANTS["meter30"][1])["margin"] == 150
    assert build_cells(["a.csv"], ["meter30"], [None], [0], margin=50.0) == [small]
