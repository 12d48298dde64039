"""Benchmarks run by `python manage.py bench <name>`: each module here has `run(argv, out)`."""
