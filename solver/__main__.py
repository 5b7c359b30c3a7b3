"""`python -m solver` is the same as `tokenop-solve`."""

if __name__ == "__main__":
    from solver import run_cli

    run_cli()
