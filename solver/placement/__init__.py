"""Candidates -> formulation: the stage types a pipeline may use, their aggregation into groups, the MILP's
constraint families, and the way back from a MILP solution to an ordered Placement."""
