"""The independent checker of a run folder (imports only the instance layer)."""

from .run import (
    CASHFLOW_TERMS,
    CONSTRAINT_GROUPS,
    DEAL_GROUPS,
    CheckReport,
    GroupCheck,
    TermCheck,
    check_run,
)

__all__ = ["CASHFLOW_TERMS", "CONSTRAINT_GROUPS", "DEAL_GROUPS", "CheckReport", "GroupCheck",
           "TermCheck", "check_run"]
