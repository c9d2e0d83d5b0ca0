"""Instance loading and validation: ``load_instance(path) -> Instance``.

See docs/instance-format.md for the format and every validation rule. The modules
import only downwards: problems <- values <- series <- schema <- load.
"""

from . import schema
from .load import load_instance
from .problems import InstanceError, Problem
from .schema import *  # noqa: F403 - the models, listed once in schema.__all__

__all__ = [*schema.__all__, "InstanceError", "Problem", "load_instance"]
