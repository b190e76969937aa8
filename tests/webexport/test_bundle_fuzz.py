"""The bundle-loader fuzz harness (tests/fuzz/bundles.py) in CI: 5,000 seeded cases of damaged real bundles (an MLP,
a convnet, stacked LSTMs, a two-input masked RNN, int32 Embedding ids) must each be refused with a BundleError naming
the file, or load and compute the unmutated bundle's numbers (run natively), each within 2 s.
``python scripts/fuzz_bundles.py --case SEED`` reruns a failure; without arguments it is the 100,000-case run."""
import collections

from tests.fuzz import bundles

CASES = 5000  # about 25 s of CPU: accepted cases run natively (lavapipe), once per distinct bundle


def test_fuzzed_bundles_are_refused_or_compute_the_same_numbers():
    outcomes = collections.Counter()
    failures = bundles.run(seed=0, cases=CASES, outcomes=outcomes)
    assert not failures, "\n".join(f"case seed {s} ({what}): {detail}" for s, what, detail in failures[:20])
    # the harness must exercise both verdicts, and each mutation family must be drawn
    assert sum(n for k, n in outcomes.items() if k.endswith("refused")) > CASES // 2, outcomes
    assert outcomes["harmless loaded"] > 100 and outcomes["inject loaded"] > 100, outcomes
    families = {k.split(" ")[0] for k in outcomes}
    assert {"truncate", "flip", "offsets", "overflow", "dtype", "deep", "unknown", "version", "inject", "file",
            "overlap", "harmless"} <= families, families


def test_a_memory_plan_with_two_live_values_in_one_buffer_is_refused(tmp_path):
    """The fuzzer's first find: a plan whose slots overlap live values loaded and computed garbage."""
    import json
    import pytest
    from webexport import BundleError, load_bundle

    seed = bundles.seeds()["cnn"]
    m = json.loads(seed["files"]["model.json"])
    first = m["steps"][0]["outputs"][0]
    second = m["steps"][1]["outputs"][0]
    m["values"][second]["buffer"] = m["values"][first]["buffer"]
    for slot in m["buffers"]:
        slot["bytes_per_batch"] = max(s["bytes_per_batch"] for s in m["buffers"])
        slot["bytes_fixed"] = max(s["bytes_fixed"] for s in m["buffers"])
    for name, data in seed["files"].items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "model.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=r"two live values in one buffer|writes .* which the step also reads"):
        load_bundle(tmp_path)
