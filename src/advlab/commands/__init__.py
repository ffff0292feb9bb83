"""What each CLI verb does: load models and data, call the library, write result files and
figures, and return tables for the CLI to print (DESIGN.md 2: the tier between the
algorithms and `advlab.cli`). Nothing below this package writes files or draws figures."""
