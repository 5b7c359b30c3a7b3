"""Independent verification of solutions: a checker that never looks at the MILP."""
