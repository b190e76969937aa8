"""Drop the comment-only and blank lines of the JS runtime as it is copied into a bundle.

The runtime's sources carry JSDoc and comments that say why; a page needs none of it, and they are a third of
its gzip bytes (issue #6's budget: 20 KB of runtime JS for a WebGPU page). Only whole lines go, so every
remaining line is byte-for-byte the source's and error stack line numbers are the only thing that changes.
No minifier: the runtime stays readable in the browser's devtools, and nothing but Python is needed to export.

    >>> strip_comment_lines("/** Doc. */\\nconst a = 1; // kept: code on the line\\n\\n// gone\\n", "a.js")
    'const a = 1; // kept: code on the line\\n'

A line inside a template literal (a backtick string over several lines) is kept whatever it looks like; the
backticks are counted on code lines, and a file that ends inside a template literal or block comment is refused
rather than guessed at.
"""
from webexport.kernels.common import ExportError


def strip_comment_lines(source, name):
    """``source`` without its comment-only and blank lines (outside template literals); ``name`` for errors."""
    kept, in_block, in_template = [], False, False
    for number, line in enumerate(source.splitlines(), 1):
        text = line.strip()
        if in_block:
            if "*/" in text:
                if not text.endswith("*/") or text.count("*/") > 1:
                    raise ExportError(f"{name}:{number}: code after the end of a block comment; put it on its own "
                                      "line so the runtime can be copied without its comments")
                in_block = False
            continue
        if not in_template:
            if not text or text.startswith("//"):
                continue
            if text.startswith("/*"):
                closes = text.find("*/", 2)
                if closes == -1:
                    in_block = True
                    continue
                if closes == len(text) - 2:
                    continue
        kept.append(line)
        if _unescaped_backticks(line) % 2:
            in_template = not in_template
    if in_block or in_template:
        raise ExportError(f"{name}: ends inside a {'block comment' if in_block else 'template literal'} as read "
                          "line by line (a backtick in a string, regex or trailing comment?)")
    return "\n".join(kept) + "\n"


def _unescaped_backticks(line):
    return sum(1 for i, char in enumerate(line) if char == "`" and (i == 0 or line[i - 1] != "\\"))
