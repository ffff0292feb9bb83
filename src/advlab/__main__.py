"""`python -m advlab` is the `advlab` command (used by `torchrun -m advlab ...`)."""

from advlab.cli import main

if __name__ == "__main__":
    main()
