"""The solver layer: standard form, HiGHS, the monolithic MILP and the Benders decomposition."""


def _lighter_scipy_import() -> None:
    """Pyomo finalises a deferred ``import scipy`` by importing scipy.stats, .integrate
    and .spatial too (about 0.5 s of every start-up); the standard form needs only
    scipy.sparse, and scipy loads any other submodule lazily on first use anyway."""
    try:
        import pyomo.common.dependencies as deps

        indicator = deps.scipy_available
        if getattr(indicator, "_callback", None) is deps._finalize_scipy:
            indicator._callback = None
    except (ImportError, AttributeError):  # another Pyomo: keep its behaviour
        pass


_lighter_scipy_import()
