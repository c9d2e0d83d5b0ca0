"""The Pyomo -> HiGHS routes on one built model: translate and solve seconds of each.

    python bench/routes.py permian-1y

- ``stdform`` (what Hashpivot uses): Pyomo's LinearStandardFormCompiler once, then one
  highspy ``passModel`` of the arrays (solver/stdform.py, solver/highs.py);
- ``appsi``: pyomo.contrib.appsi's persistent HiGHS interface;
- ``highs``: the persistent HiGHS interface of pyomo.contrib.solver.

The persistent interfaces need the objective as a Pyomo expression: it is attached from
the compiled cash-flow registry first (model/objective.py::attach), outside the timings.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer import pipeline  # noqa: E402
from optimizer.model.objective import attach  # noqa: E402
from optimizer.solver.config import SolveConfig  # noqa: E402
from optimizer.solver.highs import full_model_lp, new_highs, reset_scheduler  # noqa: E402
from optimizer.solver.stdform import OBJECTIVE_SCALE  # noqa: E402


def built_model(name: str):
    inst = pipeline.load(ROOT / "instances" / name / "instance.yaml")
    config = SolveConfig()
    data = pipeline.prepare(inst, pipeline.time_grid(inst, config))
    return pipeline.build(data), config


def stdform(name: str) -> dict:
    built, config = built_model(name)
    reset_scheduler()
    t0 = time.perf_counter()
    compiled = pipeline.compile(built)
    h = new_highs(config)
    h.setOptionValue("output_flag", False)
    h.passModel(full_model_lp(compiled.form))
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    return {"route": "stdform", "translate_s": t1 - t0, "solve_s": t2 - t1,
            "objective_usd": h.getInfo().objective_function_value / OBJECTIVE_SCALE}


def persistent(name: str, route: str) -> dict:
    built, config = built_model(name)
    compiled = pipeline.compile(built)
    form = compiled.form
    attach(built.model, compiled.columns, form.cost / OBJECTIVE_SCALE,
           form.offset / OBJECTIVE_SCALE)
    reset_scheduler()
    if route == "appsi":
        from pyomo.contrib.appsi.solvers.highs import Highs

        solver = Highs()
        solver.config.load_solution = False
        solver.config.mip_gap = config.mip_gap
        solver.highs_options["threads"] = config.thread_count
    else:
        from pyomo.contrib.solver.solvers.highs import Highs

        solver = Highs()
        solver.config.load_solutions = False
        solver.config.raise_exception_on_nonoptimal_result = False
        solver.config.rel_gap = config.mip_gap
        solver.config.solver_options = {"threads": config.thread_count}
    t0 = time.perf_counter()
    solver.set_instance(built.model)
    t1 = time.perf_counter()
    solver.solve(built.model)
    t2 = time.perf_counter()
    return {"route": route, "translate_s": t1 - t0, "solve_s": t2 - t1,
            "objective_usd": solver._solver_model.getInfo().objective_function_value}


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "permian-1y"
    for row in (stdform(name), persistent(name, "appsi"), persistent(name, "highs")):
        print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()},
              flush=True)
