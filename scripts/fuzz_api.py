"""The long run of the public-API property tests (tests/fuzz/api; CI runs a fixed, derandomized few per test).

    python scripts/fuzz_api.py                          # 500 examples per test, seed 0
    python scripts/fuzz_api.py --examples 2000 --seed 7
    python scripts/fuzz_api.py --examples 200 -k layers  # only the tests whose names match (pytest's -k)

Runs the same tests with hypothesis drawing ``--examples`` random examples per test from ``--seed`` (instead of
CI's fixed ones); a failure prints its example and a ``@reproduce_failure`` blob, as in CI. Exits with pytest's
status (0: every property held).
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="examples per test (CI: 6 to 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-k", default=None, help="only the tests matching this pytest -k expression")
    args = parser.parse_args(argv)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "fuzz" / "api"),
               f"--hypothesis-seed={args.seed}", "--hypothesis-show-statistics"]
    if args.k:
        command += ["-k", args.k]
    env = {**os.environ, "PYML_API_FUZZ_EXAMPLES": str(args.examples)}
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
