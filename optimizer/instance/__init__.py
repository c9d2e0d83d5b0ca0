"""Instance loading and validation: ``load_instance(path) -> Instance``.

See docs/instance-format.md for the format and every validation rule.
"""

from . import schema
from .load import load_instance
from .schema import *  # noqa: F403 - the schema's public names, listed once in schema.__all__

__all__ = [name for name in schema.__all__ if name not in ("MISSING", "ValueKind")]
__all__ += ["load_instance"]
