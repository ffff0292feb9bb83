"""`make bench`: every benchmark in turn; each prints its table and writes results/<name>.json.

Run one alone with `python -m benchmarks.bench_<name>`; `python -m benchmarks.run train attacks`
runs a selection.
"""

from __future__ import annotations

import importlib
import sys
import traceback

BENCHMARKS = ("train", "attacks", "transforms", "certify", "certify_methods", "gan", "universal",
              "dissect", "evaluate", "threads")


def main(names: list[str]) -> int:
    failed = []
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}")
            return 2
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
        except ModuleNotFoundError as error:
            print(f"skipping {name}: {error}")
            continue
        saved, sys.argv = sys.argv, [f"benchmarks.bench_{name}"]  # each parses only its own options
        try:
            module.main()
        except Exception:  # keep going: one broken comparison should not hide the others
            traceback.print_exc()
            failed.append(name)
        finally:
            sys.argv = saved
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
