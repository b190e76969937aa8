"""How attention exports: the masked softmax is one row kernel (the mask's ``where`` before it fuses into the
score matmul's epilogue, the one after it into the row kernel), the 4-D batched matmuls keep the batch dynamic,
and the CPU program runs the softmax in its wasm kernel."""
import pytest

from tests.webexport.keras_models import trained
from webexport import export, load_bundle


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attention")
    export(trained("attention").model, folder, include_runtime=False)
    return load_bundle(folder).manifest


def nodes_by_name(manifest):
    return {node["name"]: node for node in manifest["graph"]["nodes"]}


def test_masked_softmax_is_one_row_kernel_after_a_fused_score_matmul(manifest):
    nodes = nodes_by_name(manifest)
    ops = [[nodes[name]["target"] for name in step["nodes"]] for step in manifest["steps"]]
    assert ["max", "sub", "exp", "sum", "div", "where"] in ops
    assert ["matmul", "where"] in ops  # scores, then masked to -1e9, in one kernel
    assert sum(op == ["max", "sub", "exp", "sum", "div", "where"] for op in ops) == 1


def test_batched_attention_matmuls_keep_the_batch_dynamic(manifest):
    batched = [n for n in manifest["graph"]["nodes"] if n["target"] == "matmul" and len(n["shape"]) == 4]
    assert len(batched) == 2  # scores and the weighted values
    assert all(n["shape"][0] is None and n["shape"][1] == 2 for n in batched)  # (batch, heads, T, S or dv)


def test_cpu_program_runs_the_softmax_in_its_kernel(manifest):
    assert any(step["kernel"] == "softmax" for step in manifest["cpu"]["steps"])
