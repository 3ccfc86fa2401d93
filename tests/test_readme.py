"""README's result block is what the committed results say: regenerated, it is unchanged."""

import re

from analysis.readme_results import README, RESULTS, rebuilt


def test_readme_result_block_matches_the_committed_results():
    text = README.read_text()
    assert "<!-- results:summary -->" in text and "<!-- /results:summary -->" in text
    assert rebuilt(text, RESULTS) == text, "run python -m analysis.readme_results"
    block = re.search(r"<!-- results:summary -->\n(.*?)<!-- /results:summary -->", text, re.S)
    assert "`results/default/`" in block.group(1) and "`results/tasks/`" in block.group(1)


def test_a_hand_edited_number_in_a_block_is_caught():
    text = README.read_text()
    start = text.index("<!-- results:summary -->")
    block_end = text.index("<!-- /results:summary -->")
    edited = text[:start] + text[start:block_end].replace("4", "7", 1) + text[block_end:]
    assert edited != text and rebuilt(edited, RESULTS) == text


def test_readme_stays_short():
    assert len(README.read_text().splitlines()) < 150
