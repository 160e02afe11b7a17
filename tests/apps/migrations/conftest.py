"""Not test modules: an Alembic environment (env.py runs only inside Alembic, the revisions are
loaded by Alembic from their paths). Keep pytest's --doctest-modules from importing them."""

collect_ignore_glob = ["*.py", "versions/*.py"]
