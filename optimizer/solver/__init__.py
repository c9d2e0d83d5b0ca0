"""The solver layer: standard form, HiGHS, the monolithic MILP and the Benders decomposition."""
