"""`python -m bench.inspection`: what checking an upload costs (bench/inspection/measure.py).

Kept light: the checking processes import `bench.inspection.child`, and with it this file.
"""
