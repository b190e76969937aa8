"""The long run of the kill -9 harness (tests/fuzz/kill_saves.py; CI runs 105 kills per test run).

    python scripts/kill_saves.py                          # 1,000 kills: 400 save, 300 checkpoint, 300 export
    python scripts/kill_saves.py --kills 3000 --seed 7
    python scripts/kill_saves.py --kind export --kills 50 --seed 3   # one failure's kind and seed again

Prints per kind the kills, how many children completed a save before being killed, how many kills left a
temporary sibling (landed mid-write), and the time; exits 1 on the first failure (which names kind, seed, kill).
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz import kill_saves  # noqa: E402

SHARES = {"save": 0.4, "checkpoint": 0.3, "export": 0.3}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000, help="kills in all (split 40/30/30 without --kind)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=sorted(SHARES), default=None)
    args = parser.parse_args(argv)
    plan = {args.kind: args.kills} if args.kind else {k: round(args.kills * s) for k, s in SHARES.items()}
    for kind, kills in plan.items():
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"pyml-kill-{kind}-") as folder:
            try:
                stats = kill_saves.run(kind, kills, args.seed, folder)
            except AssertionError as exc:
                print(f"FAILED: {exc}", flush=True)
                return 1
        print(f"{kind}: {stats['kills']} kills, {stats['completed']} after a completed save, {stats['leftovers']} "
              f"mid-write (temporaries left), 0 failures, {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
