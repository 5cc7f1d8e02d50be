"""The README's 3D code tour must run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_3d_tour_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python code block"
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out.split()
    assert int(out[0]) < int(out[1])  # the octree is smaller than the dense grid
