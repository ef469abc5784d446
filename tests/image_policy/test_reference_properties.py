"""Properties of reference parsing and allow-list matching over generated references."""

from __future__ import annotations

from glm_tts_hooks.image_policy.reference import RegistryPrefix, parse_reference
from hypothesis import given, settings
from hypothesis import strategies as st

component = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
host = st.one_of(
    st.just("localhost"),
    st.from_regex(r"[a-z][a-z0-9]{0,8}\.(io|com|example)", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9]{0,8}\.io:[1-9][0-9]{1,4}", fullmatch=True),
)
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
digest = st.from_regex(r"sha256:[0-9a-f]{64}", fullmatch=True)


@st.composite
def references(draw) -> str:
    parts = draw(st.lists(component, min_size=1, max_size=3))
    if draw(st.booleans()):
        parts.insert(0, draw(host))
    elif len(parts) > 1:
        # Without a host, a first component with a '.' would be read as one (as the runtime does).
        parts[0] = parts[0].replace(".", "-")
    name = "/".join(parts)
    if draw(st.booleans()):
        name += f":{draw(tag)}"
    if draw(st.booleans()):
        name += f"@{draw(digest)}"
    return name


@settings(max_examples=150, deadline=None)
@given(references())
def test_normalised_form_parses_to_itself(text):
    ref = parse_reference(text)
    assert parse_reference(str(ref)) == ref
    assert ref.registry and "/" not in ref.registry
    assert ref.tag is None or f":{ref.tag}" in text


@settings(max_examples=150, deadline=None)
@given(references(), component)
def test_prefix_admits_exactly_its_subtree(text, suffix):
    ref = parse_reference(text)
    first = ref.repository.split("/")[0]
    assert RegistryPrefix.parse(f"{ref.registry}/{first}/").admits(ref)
    assert RegistryPrefix.parse(ref.registry).admits(ref)
    # A sibling whose name merely starts with the same characters is never admitted.
    assert not RegistryPrefix.parse(f"{ref.registry}/{first}{suffix}/").admits(ref)
