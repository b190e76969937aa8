"""The long run of the load_model fuzz harness (tests/fuzz/model_files.py; CI runs 2,000 cases per test run).

    python scripts/fuzz_model_files.py                       # 100,000 cases from seed 0
    python scripts/fuzz_model_files.py --seed 7 --cases 5000
    python scripts/fuzz_model_files.py --case 1001364        # one case again, from a seed a failure printed

Prints each failure as it happens (the case's seed, the model and mutation, what went wrong), a progress line
every 10,000 cases, the peak memory, and exits 1 when any case failed.
"""
import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tests.fuzz import model_files, seeded  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--case", type=int, default=None, help="run the one case with this seed, and show it")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    if args.case is not None:
        failure = model_files.case(args.case)
        print(failure or f"case {args.case} held")
        return 1 if failure else 0
    started = time.perf_counter()
    failures = model_files.run(args.seed, args.cases, on_case=seeded.progress(started))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"seed {args.seed}: {args.cases:,} cases, {len(failures)} failures, {time.perf_counter() - started:.0f} s, "
          f"peak memory {peak:.0f} MiB")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
