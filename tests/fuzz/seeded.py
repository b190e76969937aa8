"""What the seeded fuzz harnesses here share: the case loop (case ``seed * 1_000_003 + i`` for i < cases, in one
scratch folder, collecting the failures, so a printed case seed reruns exactly that case), and JSON with
placeholders for nesting too deep for ``json.dumps``."""
import json
import shutil
import tempfile

DEEP = "pyml-fuzz-deep-"  # f"{DEEP}{n}" as a JSON string value: written as n nested lists by ``dumps``


def dumps(value, indent=None, sort_keys=False):
    """JSON bytes of ``value``, each DEEP placeholder written as that many nested lists (json.dumps would recurse)."""
    text = json.dumps(value, indent=indent, sort_keys=sort_keys)
    while f'"{DEEP}' in text:
        start = text.index(f'"{DEEP}')
        end = text.index('"', start + 1)
        depth = int(text[start + 1 + len(DEEP):end])
        text = text[:start] + "[" * depth + "]" * depth + text[end + 1:]
    return text.encode()


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


def progress(started, every=10_000):
    """An ``on_case(i, failure)`` for the long-run scripts: prints each failure as it happens, and the count and
    seconds since ``started`` (a ``time.perf_counter()``) every ``every`` cases."""
    import time

    def report(i, failure):
        if failure:
            print(f"FAIL case seed {failure[0]} ({failure[1]}): {failure[2]}", flush=True)
        if (i + 1) % every == 0:
            print(f"{i + 1:,} cases, {time.perf_counter() - started:.0f} s", flush=True)
    return report
