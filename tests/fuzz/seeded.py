"""The loop every seeded fuzz harness here runs: case ``seed * 1_000_003 + i`` for i < cases, in one scratch
folder, collecting the failures (so a printed case seed reruns exactly that case)."""
import shutil
import tempfile


def run(case, seed, cases, prefix, on_case=None, outcomes=None):
    """``case(case_seed, folder, outcomes)`` returns a failure tuple or None; the list of failures."""
    folder = tempfile.mkdtemp(prefix=prefix)
    failures = []
    try:
        for i in range(cases):
            failure = case(seed * 1_000_003 + i, folder, outcomes)
            if failure:
                failures.append(failure)
            if on_case:
                on_case(i, failure)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return failures
