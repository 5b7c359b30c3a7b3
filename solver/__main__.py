"""`python -m solver` is the same as `tokenop-solve`."""

from solver.cli import main

main()
