"""Home Assistant side of the stubs: exceptions, the state record, ``StateVal``.

Models Home Assistant 2025.12.1 (``homeassistant/core.py``, ``exceptions.py``,
``helpers/template/__init__.py``) and pyscript 1.7.0 ``state.py`` ``StateVal``.
"""

from __future__ import annotations

import re
from datetime import datetime

STATE_UNAVAILABLE = "unavailable"
MAX_LENGTH_STATE_STATE = 255  # homeassistant/const.py

# pyscript state.py STATE_VIRTUAL_ATTRS
STATE_VIRTUAL_ATTRS = frozenset({"entity_id", "last_changed", "last_updated", "last_reported"})

# homeassistant/core.py VALID_ENTITY_ID
_OBJECT_ID = r"(?!_)[\da-z_]+(?<!_)"
_DOMAIN = r"(?!.+__)" + _OBJECT_ID
VALID_ENTITY_ID = re.compile(r"^" + _DOMAIN + r"\." + _OBJECT_ID + r"$")


# --------------------------------------------------------------------------- exceptions
class HomeAssistantError(Exception):
    """homeassistant.exceptions.HomeAssistantError.

    Like HA, a bare ``translation_key`` (no message) becomes the message; the stub does
    not look translations up, so ``str(exc)`` is then the key (e.g. "too_many_requests").
    """

    def __init__(self, *args, translation_domain=None, translation_key=None,
                 translation_placeholders=None):
        if not args and translation_key:
            args = (translation_key,)
        super().__init__(*args)
        self.translation_domain = translation_domain
        self.translation_key = translation_key
        self.translation_placeholders = translation_placeholders


class ServiceValidationError(HomeAssistantError):
    """homeassistant.exceptions.ServiceValidationError."""


class ServiceNotFound(ServiceValidationError):
    """homeassistant.exceptions.ServiceNotFound ("Action d.s not found.", the English translation)."""

    def __init__(self, domain, service):
        super().__init__(f"Action {domain}.{service} not found.",
                         translation_domain="homeassistant", translation_key="service_not_found",
                         translation_placeholders={"domain": domain, "service": service})
        self.domain = domain
        self.service = service


class InvalidStateError(HomeAssistantError):
    """homeassistant.exceptions.InvalidStateError (state string longer than 255)."""


class InvalidEntityFormatError(HomeAssistantError):
    """homeassistant.exceptions.InvalidEntityFormatError (bad entity id on creation)."""


class Invalid(Exception):
    """Stand-in for ``voluptuous.Invalid``/``MultipleInvalid``: a service schema rejected the data.

    HA validates service data in ``ServiceRegistry.async_call`` *before* it decides between
    blocking and non-blocking, so this always reaches the caller. It is not a HomeAssistantError.
    """


# --------------------------------------------------------------------------- state record
class HState:
    """The parts of ``homeassistant.core.State`` pyscript reads."""

    __slots__ = ("entity_id", "state", "attributes", "last_changed", "last_updated", "last_reported")

    def __init__(self, entity_id, state, attributes, last_changed, last_updated, last_reported):
        self.entity_id, self.state, self.attributes = entity_id, state, attributes
        self.last_changed, self.last_updated, self.last_reported = last_changed, last_updated, last_reported


# --------------------------------------------------------------------------- StateVal
class StateVal(str):
    """pyscript 1.7.0 ``state.py`` ``StateVal``: the state string, attributes in ``__dict__``.

    Built from anything with ``entity_id``/``state``/``attributes``/``last_*`` (an HA ``State`` or
    the stub's ``HState``). The app reads only the string and attributes; pyscript's ``as_*``
    helpers are not modelled (an app using one gets AttributeError here, so the stubs say so).
    """

    def __new__(cls, state):
        new_var = super().__new__(cls, state.state)
        attrs = dict(state.attributes)
        attrs["entity_id"] = state.entity_id
        attrs["last_updated"] = state.last_updated
        attrs["last_changed"] = state.last_changed
        attrs["last_reported"] = state.last_reported
        new_var.__dict__ = attrs
        return new_var


def repr_helper(inp):
    """homeassistant/util/__init__.py repr_helper (used in ServiceCall.__repr__)."""
    if isinstance(inp, dict):
        return ", ".join(f"{repr_helper(k)}={repr_helper(v)}" for k, v in inp.items())
    if isinstance(inp, datetime):
        return inp.isoformat()
    return str(inp)
