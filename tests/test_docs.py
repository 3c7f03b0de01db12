"""Every ```python block in README.md and docs/*.md is executed, in order, per document.

Blocks of one document share a namespace, like cells of a notebook. They run in a
temporary working directory so they cannot write into the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, in order."""
    return FENCE.findall(path.read_text(encoding="utf-8"))


ALL_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
DOCS = [p for p in ALL_DOCS if python_blocks(p)]


def test_readme_and_user_guide_have_examples() -> None:
    assert python_blocks(ROOT / "README.md"), "README.md must show executed API examples"
    guide = [p.name for p in ALL_DOCS if p.parent.name == "docs" and p.name != "index.md"]
    assert guide, "docs/ has no user guide pages"
    assert all(python_blocks(ROOT / "docs" / name) for name in guide), guide


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_doc_examples_run(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(doc)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"doc_{doc.stem}"}
    for i, block in enumerate(blocks, 1):
        code = compile(block, f"{doc.name}[block {i}]", "exec")
        exec(code, namespace)
    import matplotlib.pyplot as plt

    plt.close("all")
