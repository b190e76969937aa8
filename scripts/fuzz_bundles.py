"""The long run of the bundle-loader fuzz harness (tests/fuzz/bundles.py; CI runs 5,000 Python cases per test run,
tests/webexport/test_bundle_fuzz.py, and 500 in Chromium, tests/browser/test_bundle_fuzz_browser.py).

    python scripts/fuzz_bundles.py                        # 100,000 cases from seed 0
    python scripts/fuzz_bundles.py --seed 7 --cases 5000
    python scripts/fuzz_bundles.py --case 1001364         # one case again, from a seed a failure printed
    python scripts/fuzz_bundles.py --browser --cases 2500 # in Chromium: 2,500 cases on each of WebGPU and wasm
    python scripts/fuzz_bundles.py --browser --case 598 660   # cases again in Chromium

Prints each failure as it happens (the case's seed, the model and mutation, what went wrong), a progress line
every 10,000 cases, the outcomes per mutation, and exits 1 when any case failed.
"""
import argparse
import collections
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tests.fuzz import bundles, seeded  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--case", type=int, nargs="+", default=None,
                        help="run the cases with these seeds (as failures print them) again")
    parser.add_argument("--browser", action="store_true", help="run the cases in Chromium instead")
    args = parser.parse_args(argv)
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/pyml-runtime-0")
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    if args.browser:
        from tests.browser.test_bundle_fuzz_browser import run_in_chromium

        started = time.perf_counter()
        failures, counts = run_in_chromium(args.seed, args.cases, args.case)
        for failure in failures:
            print("FAIL", failure, flush=True)
        what = f"cases {args.case}" if args.case else f"seed {args.seed}: {args.cases:,} cases"
        print(f"{what} per backend in Chromium, {len(failures)} failures, {time.perf_counter() - started:.0f} s; "
              f"{dict(counts)}")
        return 1 if failures else 0
    if args.case is not None:
        failures = [failure for failure in map(bundles.case, args.case) if failure]
        for seed in args.case:
            print(next((f for f in failures if f[0] == seed), f"case {seed} held"))
        return 1 if failures else 0
    started = time.perf_counter()
    outcomes = collections.Counter()
    failures = bundles.run(args.seed, args.cases, on_case=seeded.progress(started), outcomes=outcomes)
    print(f"seed {args.seed}: {args.cases:,} cases, {len(failures)} failures, {time.perf_counter() - started:.0f} s; "
          f"{dict(sorted(outcomes.items()))}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
