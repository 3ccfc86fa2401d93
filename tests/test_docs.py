"""The guides show the code as it is: the update-rule guide's worked example is
algos/hold.py verbatim, and its registry entry is the one in algos/registry.py."""

import re

from tests.conftest import ROOT


def guide_blocks(name: str) -> list[str]:
    text = (ROOT / "docs" / "develop" / name).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def squeezed(code: str) -> str:
    return re.sub(r"\s+", "", code)


def test_the_update_rule_guides_example_is_the_zero_dose_rule_as_it_stands():
    module, entry = guide_blocks("adding-an-update-rule.md")
    assert module == (ROOT / "algos" / "hold.py").read_text()
    assert squeezed(entry) in squeezed((ROOT / "algos" / "registry.py").read_text())
