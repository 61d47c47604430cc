"""The stub tests' home: the shared plant (tests/plant.py) on the stub Home Assistant
(stubs.harness.StubHA), its coroutines run to completion at once (nothing in the stubs waits), so
the tests stay plain functions. The stub world can put the meter's update before the tick in the
same second; that is the default here (`tick_first=True` for the other order, the e2e one).
"""

import inspect

from plant import Plant, config_for
from stubs.harness import StubHA, run


class Home:
    def __init__(self, frozen, config=None, restore=None, start=True, **plant_kw):
        if config is None:
            config = config_for(plant_kw.get("charger", "wallbox"), plant_kw.get("power_unit"))
        ha = StubHA(frozen, dict(config), restore=restore)
        plant_kw.setdefault("tick_first", False)
        object.__setattr__(self, "plant", Plant(ha, **plant_kw))
        object.__setattr__(self, "notifications", ha.mock_service("persistent_notification", "create"))
        run(self.plant.publish_all())
        if start:
            run(ha.start())

    @property
    def env(self):
        return self.plant.ha.env

    def state(self, entity_id):
        return self.plant.ha.state(entity_id)

    def attrs(self, entity_id):
        return self.plant.ha.attrs(entity_id)

    def __getattr__(self, name):
        attr = getattr(self.plant, name)
        return (lambda *a, **k: run(attr(*a, **k))) if inspect.iscoroutinefunction(attr) else attr

    def __setattr__(self, name, value):
        setattr(self.plant, name, value)
