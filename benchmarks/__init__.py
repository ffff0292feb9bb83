"""Side-by-side speed comparisons (`make bench`). Ratios are measured in one run."""
