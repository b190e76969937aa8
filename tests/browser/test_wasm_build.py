"""The committed WebAssembly builds (web/src/wasm/*.wasm) match their sources: scripts/build_wasm.py records
the SHA-256 of every source and output in web/src/wasm/build.json, so a change to web/wasm/*.c or *.h that
was not rebuilt (``python scripts/build_wasm.py``, with the pinned ziglang) fails here. No compiler needed."""
import importlib.util
import json
import shutil

from tests.browser.harness import ROOT

spec = importlib.util.spec_from_file_location("build_wasm", ROOT / "scripts" / "build_wasm.py")
build_wasm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_wasm)


def test_committed_wasm_builds_match_their_sources(capsys):
    assert build_wasm.check() == 0, f"rebuild with: python scripts/build_wasm.py\n{capsys.readouterr().out}"
    built = json.loads((build_wasm.OUT / "build.json").read_text())
    assert set(built["outputs"]) == {"web/src/wasm/simd.wasm", "web/src/wasm/relaxed.wasm"}
    assert set(built["sources"]) == {p.relative_to(ROOT).as_posix() for p in (ROOT / "web" / "wasm").glob("*.[ch]")}
    assert built["compiler"] == f"ziglang=={build_wasm.ZIGLANG}"


def test_a_source_changed_without_a_rebuild_is_named(tmp_path, monkeypatch, capsys):
    sources = tmp_path / "web" / "wasm"
    shutil.copytree(ROOT / "web" / "wasm", sources)
    (sources / "gemm.c").write_text((sources / "gemm.c").read_text() + "\n/* an edit */\n")
    shutil.copytree(build_wasm.OUT, tmp_path / "web" / "src" / "wasm")
    monkeypatch.setattr(build_wasm, "ROOT", tmp_path)
    monkeypatch.setattr(build_wasm, "SOURCES", sources)
    monkeypatch.setattr(build_wasm, "OUT", tmp_path / "web" / "src" / "wasm")
    assert build_wasm.check() == 1
    assert "changed since the last build: web/wasm/gemm.c" in capsys.readouterr().out
