"""`make bench`: figures with their targets, medians over repeated runs, on this machine."""
