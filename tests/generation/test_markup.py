"""`<GEN>` trigger and `<h>...</h>` parsing, checked against the official split rule."""

import pytest

from minigemini.generation.markup import add_gen_trigger, parse_answer, wrap_prompt


def official_prompt(outputs: str) -> str | None:
    """The official CLI rule, for comparison on well-formed answers."""
    if "<h>" in outputs and "</h>" in outputs:
        return outputs.split("</h>")[-2].split("<h>")[-1]
    return None


def test_gen_trigger_is_appended_with_a_space_like_the_official_cli():
    assert add_gen_trigger("Draw a cat") == "Draw a cat <GEN>"


def test_gen_trigger_is_not_added_twice():
    assert add_gen_trigger("Draw a cat <GEN>") == "Draw a cat <GEN>"


def test_single_pair_gives_prompt_and_clean_text():
    parsed = parse_answer("Sure! <h>a red fox in snow, 8k</h> Enjoy.")
    assert parsed.prompt == "a red fox in snow, 8k"
    assert parsed.text == "Sure! Enjoy."


@pytest.mark.parametrize(
    "answer",
    [
        "<h>first</h> then <h>second</h>",
        "intro <h>a</h>\n<h>b, cinematic</h> outro",
        "<h>x <h>inner</h>",
        "<h>done</h> and then <h>truncat",
    ],
)
def test_last_complete_pair_wins_as_in_the_official_code(answer):
    assert parse_answer(answer).prompt == official_prompt(answer).strip()


def test_unterminated_pair_means_no_image_and_keeps_its_words():
    parsed = parse_answer("Here you go: <h>a photo of a ca")
    assert parsed.prompt is None
    assert parsed.text == "Here you go: a photo of a ca"


@pytest.mark.parametrize("answer", ["Nothing to draw.", "<h></h>", "ok <h>  \n </h>", "</h>oops<h>"])
def test_empty_or_missing_pair_means_no_image(answer):
    assert parse_answer(answer).prompt is None


def test_empty_last_pair_overrides_an_earlier_prompt():
    assert parse_answer("<h>a cat</h> actually no <h> </h>").prompt is None


def test_all_markup_is_removed_from_the_text():
    parsed = parse_answer("A <h>one</h> B </h> C <GEN> D <h>two</h>")
    assert parsed.prompt == "two"
    assert parsed.text == "A B C D"


def test_multiline_text_keeps_its_layout():
    parsed = parse_answer("Story:\n    indented line\n<h>dragon, fire</h>")
    assert parsed.text == "Story:\n    indented line"
    assert parsed.prompt == "dragon, fire"


def test_wrap_prompt_round_trips():
    assert parse_answer(wrap_prompt(" castle at dusk ")).prompt == "castle at dusk"
