"""Stubs that run the real pyscript app file under CPython: Home Assistant 2025.12.1 + pyscript 1.7.0.

"When the stubs and real pyscript disagree, the stubs are wrong." They model only what the app, its
tests and the simulator use; anything else raises ``StubLimitation`` (a NotImplementedError); code
pyscript's interpreter cannot run raises ``PyscriptIncompatible`` when loaded. See stubs/README.md.
"""

from .compat import ALLOWED_IMPORTS, install_finder
from .env import REPO_ROOT, PyscriptEnv
from .errors import PyscriptIncompatible, StubLimitation
from .ha import HomeAssistantError, Invalid, InvalidStateError, ServiceNotFound, ServiceValidationError, StateVal

__all__ = [
    "ALLOWED_IMPORTS", "HomeAssistantError", "Invalid", "InvalidStateError", "PyscriptEnv",
    "PyscriptIncompatible", "ServiceNotFound", "ServiceValidationError", "StateVal", "StubLimitation",
]

# Importing the stubs installs the loader for the repository's pyscript/modules, so a test or tool
# that imports a module directly gets it the pyscript way (builtins, import rule, subset check)
# before any PyscriptEnv exists.
install_finder().add_dir(REPO_ROOT / "pyscript" / "modules")
