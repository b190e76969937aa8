"""webexport.jsstrip: the runtime a bundle carries is its source minus whole comment and blank lines."""
import gzip
from pathlib import Path

import pytest

from webexport.jsstrip import strip_comment_lines
from webexport.kernels.common import ExportError

RUNTIME_SRC = Path(__file__).resolve().parents[2] / "web" / "src"


def test_comment_only_and_blank_lines_go_and_code_lines_stay_whole():
    source = ("/**\n * Doc with `one backtick.\n * @example\n */\nexport function f(a) {\n\n  // why\n"
              "  return a + 1; // a trailing comment stays: it is on a code line\n  /* one line */\n}\n")
    assert strip_comment_lines(source, "f.js") == (
        "export function f(a) {\n  return a + 1; // a trailing comment stays: it is on a code line\n}\n")


def test_lines_inside_a_template_literal_are_kept_whatever_they_look_like():
    source = "const wgsl = `\n// a WGSL comment\n\n  * not JSDoc\n`;\n// gone\nconst b = `x`;\n"
    assert strip_comment_lines(source, "t.js") == "const wgsl = `\n// a WGSL comment\n\n  * not JSDoc\n`;\nconst b = `x`;\n"


def test_an_escaped_backtick_does_not_open_a_template():
    source = "const s = `a \\` b`;\n// gone\n"
    assert strip_comment_lines(source, "e.js") == "const s = `a \\` b`;\n"


@pytest.mark.parametrize("source, message", [
    ("/* a\n b */ const x = 1;\n", "e.js:2: code after the end of a block comment"),
    ("const s = `open\n", "e.js: ends inside a template literal"),
    ("/** never closed\n", "e.js: ends inside a block comment"),
])
def test_what_it_cannot_read_line_by_line_is_refused_by_name(source, message):
    with pytest.raises(ExportError, match=message):
        strip_comment_lines(source, "e.js")


@pytest.mark.parametrize("path", sorted(RUNTIME_SRC.rglob("*.js")), ids=lambda p: p.relative_to(RUNTIME_SRC).as_posix())
def test_each_runtime_module_keeps_its_code_lines_in_order_and_shrinks(path):
    source = path.read_text(encoding="utf-8")
    stripped = strip_comment_lines(source, path.name)
    lines = iter(source.splitlines())
    assert all(line in lines for line in stripped.splitlines()), "a kept line differs from its source line"
    assert len(gzip.compress(stripped.encode(), 9)) < len(gzip.compress(source.encode(), 9))
