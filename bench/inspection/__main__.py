"""`python -m bench.inspection`: a package's `__main__`, so the checking processes forked for
the measurement do not import the benchmark again (multiprocessing skips `__main__` modules)."""

from bench.inspection.measure import main

main()
