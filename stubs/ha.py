"""Home Assistant side of the stubs: exceptions, the state record, ``StateVal``.

Models Home Assistant 2025.12.1 (``homeassistant/core.py``, ``exceptions.py``,
``helpers/template/__init__.py``) and pyscript 1.7.0 ``state.py`` ``StateVal``.
"""

from __future__ import annotations

import re
from datetime import datetime

STATE_UNKNOWN = "unknown"
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
        self.entity_id = entity_id
        self.state = state
        self.attributes = attributes
        self.last_changed = last_changed
        self.last_updated = last_updated
        self.last_reported = last_reported


# --------------------------------------------------------------------------- StateVal
_SENTINEL = object()


def raise_no_default(function, value):
    """helpers/template/helpers.py raise_no_default (outside a template: template '')."""
    raise ValueError(
        f"Template error: {function} got invalid input '{value}' when rendering or compiling"
        " template '' but no default was specified"
    )


def _cv_boolean(value):
    """helpers/config_validation.py boolean(); returns None instead of raising vol.Invalid."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        value = value.lower().strip()
        if value in ("1", "true", "yes", "on", "enable"):
            return True
        if value in ("0", "false", "no", "off", "disable"):
            return False
    elif isinstance(value, (int, float)):
        return value != 0
    return None


class StateVal(str):
    """pyscript 1.7.0 ``state.py`` ``StateVal``: the state string, attributes in ``__dict__``.

    Built from anything with ``entity_id``/``state``/``attributes``/``last_*`` (an HA
    ``State`` or the stub's ``HState``). The ``as_*`` helpers use HA's forgiving template
    filters: without a default a non-numeric state raises ``ValueError``.
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

    def as_float(self, default=_SENTINEL):
        """template forgiving_float."""
        try:
            return float(self)
        except (ValueError, TypeError):
            if default is _SENTINEL:
                raise_no_default("float", self)
            return default

    def as_int(self, default=_SENTINEL, base=10):
        """template forgiving_int (jinja2 do_int: "42.7" -> 42)."""
        try:
            return int(str(self), base)
        except (TypeError, ValueError):
            try:
                return int(float(self))
            except (TypeError, ValueError, OverflowError):
                if default is _SENTINEL:
                    raise_no_default("int", self)
                return default

    def as_bool(self, default=_SENTINEL):
        """template forgiving_boolean (cv.boolean)."""
        result = _cv_boolean(str(self))
        if result is None:
            if default is _SENTINEL:
                raise_no_default("bool", self)
            return default
        return result

    def as_round(self, precision=0, method="common", default=_SENTINEL):
        """template forgiving_round."""
        import math

        try:
            multiplier = float(10**precision)
            if method == "ceil":
                value = math.ceil(float(self) * multiplier) / multiplier
            elif method == "floor":
                value = math.floor(float(self) * multiplier) / multiplier
            elif method == "half":
                value = round(float(self) * 2) / 2
            else:
                value = round(float(self), precision)
            return int(value) if precision == 0 else value
        except (ValueError, TypeError):
            if default is _SENTINEL:
                raise_no_default("round", self)
            return default

    def as_datetime(self, default=_SENTINEL):
        """dt_util.parse_datetime approximated with ``datetime.fromisoformat``."""
        try:
            return datetime.fromisoformat(str(self))
        except (ValueError, TypeError):
            if default is _SENTINEL:
                raise_no_default("as_datetime", self)
        return default

    def is_unknown(self):
        return self == STATE_UNKNOWN

    def is_unavailable(self):
        return self == STATE_UNAVAILABLE

    def has_value(self):
        return not self.is_unknown() and not self.is_unavailable()


# pyscript state.py STATE_CALLABLE_ATTRS
STATE_CALLABLE_ATTRS = frozenset(
    attr for attr, value in StateVal.__dict__.items() if callable(value) and not attr.startswith("_")
)


def repr_helper(inp):
    """homeassistant/util/__init__.py repr_helper (used in ServiceCall.__repr__)."""
    if isinstance(inp, dict):
        return ", ".join(f"{repr_helper(k)}={repr_helper(v)}" for k, v in inp.items())
    if isinstance(inp, datetime):
        return inp.isoformat()
    return str(inp)
