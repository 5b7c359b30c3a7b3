"""`python -m solver` is the same as `tokenop-solve`."""

from solver.cli import main

if __name__ == "__main__":
    main()
