"""A fake recorder.get_statistics for the stub tests, answering as Home Assistant 2025.12.1's action
(recorder/services.py over statistics_during_period): the rows of the asked ids and period with
start_time <= start < end_time, only the asked types, ids without rows left out, values in the
statistic's own unit unless `units` asks for another power unit. e2e/ runs the real recorder."""

from datetime import datetime, timedelta

POWER_W = {"W": 1.0, "kW": 1000.0, "MW": 1000000.0}
PERIOD_S = {"5minute": 300, "hour": 3600}


class FakeRecorder:
    def __init__(self):
        self.rows = {}  # (statistic_id, period) -> [(start, mean, max)] in the statistic's unit
        self.unit = {}  # statistic_id -> its unit

    def add(self, statistic_id, period, start, means, unit="W"):
        """Rows of `period` from `start` (aware), one per value of `means` (None: no row)."""
        self.unit[statistic_id] = unit
        step = timedelta(seconds=PERIOD_S[period])
        out = self.rows.setdefault((statistic_id, period), [])
        for k, mean in enumerate(means):
            if mean is not None:
                out.append((start + step * k, mean, mean))

    def answer(self, call):
        data = call.data
        start, end = datetime.fromisoformat(data["start_time"]), datetime.fromisoformat(data["end_time"])
        step = timedelta(seconds=PERIOD_S[data["period"]])
        wanted = (data.get("units") or {}).get("power")
        statistics = {}
        for statistic_id in data["statistic_ids"]:
            scale = POWER_W[self.unit.get(statistic_id, "W")] / POWER_W[wanted] if wanted else 1.0
            found = []
            for a, mean, high in self.rows.get((statistic_id, data["period"]), []):
                if start <= a < end:
                    row = {"start": a.isoformat(), "end": (a + step).isoformat()}
                    row.update({key: value * scale for key, value in (("max", high), ("mean", mean)) if key in data["types"]})
                    found.append(row)
            if found:
                statistics[statistic_id] = found
        return {"statistics": statistics}
