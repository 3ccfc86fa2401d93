"""README's result blocks are what the committed results say: regenerated, they are unchanged."""

from analysis.readme_results import BLOCKS, README, RESULTS, rebuilt


def test_readme_result_blocks_match_the_committed_results():
    text = README.read_text()
    for name in BLOCKS:
        assert f"<!-- results:{name} -->" in text and f"<!-- /results:{name} -->" in text
    assert rebuilt(text, RESULTS) == text, "run python -m analysis.readme_results"


def test_a_hand_edited_number_in_a_block_is_caught():
    text = README.read_text()
    start = text.index("<!-- results:grad_clip_pair -->")
    block_end = text.index("<!-- /results:grad_clip_pair -->")
    edited = text[:start] + text[start:block_end].replace("1", "7", 1) + text[block_end:]
    assert edited != text and rebuilt(edited, RESULTS) == text
