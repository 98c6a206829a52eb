import pytest

from relbert.templates import TEMPLATES, fill_template, resolve_template, split_template


def test_paper_templates_verbatim():
    assert TEMPLATES["a"] == "Today, I finally discovered the relation between <subj> and <obj> : <subj> is the <mask> of <obj>"
    assert TEMPLATES["b"] == "Today, I finally discovered the relation between <subj> and <obj> : <obj> is <subj>'s <mask>"
    assert TEMPLATES["c"] == "Today, I finally discovered the relation between <subj> and <obj> : <mask>"
    assert TEMPLATES["d"] == "I wasn\u2019t aware of this relationship, but I just read in the encyclopedia that <subj> is the <mask> of <obj>"
    assert TEMPLATES["e"] == "I wasn\u2019t aware of this relationship, but I just read in the encyclopedia that <obj> is <subj>\u2019s <mask>"
    assert "\u2019" in TEMPLATES["d"] and "'" not in TEMPLATES["d"]


def test_fill_matches_official_replace_for_plain_words():
    for name, text in TEMPLATES.items():
        expected = text.replace("<subj>", "dog").replace("<obj>", "cat").replace("<mask>", "[MASK]")
        assert fill_template(name, "dog", "cat", "[MASK]") == expected


def test_fill_is_positional_words_stay_literal():
    # A word containing a marker is not re-substituted (str.replace chains would do that).
    prompt = fill_template("a", "<obj>", "x<mask>", "[MASK]")
    assert prompt.endswith(": <obj> is the [MASK] of x<mask>")
    assert prompt.count("[MASK]") == 1


def test_custom_template_and_missing_marker():
    custom = "<subj> relates to <obj> as <mask>"
    assert resolve_template(custom) == custom
    assert split_template(custom) == ["", "<subj>", " relates to ", "<obj>", " as ", "<mask>", ""]
    with pytest.raises(ValueError, match="<mask>"):
        resolve_template("<subj> and <obj>")
    with pytest.raises(ValueError, match="<subj>"):
        resolve_template("f")
