"""Importing an axis's agency list into a directory (``docflow axis agencies --sync``):
organs placed under their nearest known ancestor, the operator's text kept, hostile
names and codes skipped, and for any list: the result loads, keeps every organ it had,
and a second import adds nothing."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docflow.agencies import Agency, import_agencies
from docflow.errors import ConfigError
from docflow.model import OrganCode
from docflow.routing import Directory, toml_string

DIRECTORY = """\
# the operator's own file, comments kept
[[hubs]]
code = "000.00.00.G22"
name = "Trục liên thông quốc gia"

[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
level = "province"

[[organs]]
code = "000.00.01.H41"
name = "UBND thành phố Tam Kỳ"
level = "district"
"""


def test_organs_are_placed_under_their_nearest_known_ancestor() -> None:
    result = import_agencies(DIRECTORY, [
        Agency("000.00.00.H41", "UBND tỉnh Quảng Nam"),  # known: left as it is
        Agency("000.01.01.H41", "UBND phường An Mỹ", "anmy@tamky.gov.vn"),
        Agency("000.00.00.H20", "UBND tỉnh (another province)"),
        Agency("000.03.05.H20", "UBND xã (its district unknown here)"),
    ], hub="000.00.00.G22", note="imported from the axis")
    assert result.text.startswith(DIRECTORY.rstrip("\n"))
    assert "# imported from the axis" in result.text
    placed = {str(organ.code): (organ.level, organ.parent and str(organ.parent))
              for organ in result.added}
    assert placed == {
        "000.01.01.H41": ("commune", "000.00.01.H41"),
        "000.00.00.H20": ("province", None),
        # its nearest known ancestor is that province: the first level allowed under it
        "000.03.05.H20": ("department", "000.00.00.H20"),
    }
    assert result.known == (OrganCode("000.00.00.H41"),)
    directory = Directory.from_toml_text(result.text)
    assert directory.entry("000.01.01.H41").organ.email == "anmy@tamky.gov.vn"
    assert directory.entry("000.00.00.H20").hub == OrganCode("000.00.00.G22")
    again = import_agencies(result.text, [Agency(str(o.code), o.name) for o in result.added])
    assert (again.added, again.text) == ((), result.text)


def test_hostile_entries_are_skipped_never_written() -> None:
    result = import_agencies(DIRECTORY, [
        Agency('000.00.02.H41"\n[[hubs]]', "injection by code"),
        Agency("000.00.02.H41", 'Name"\n[[hubs]]\ncode = "000.00.00.X99"'),
        Agency("000.00.06.H41", "UBND\x00huyện"),
        Agency("000.00.03.H41", ""),
        Agency("000.00.04.H41", "x" * 301),
        Agency("000.00.05.H41", "  UBND   huyện   Núi Thành  ", "bad\x00mail"),
    ])
    assert [str(organ.code) for organ in result.added] == ["000.00.02.H41", "000.00.05.H41"]
    # A name is text: written escaped, it cannot open a table of its own.
    assert result.added[0].name == 'Name" [[hubs]] code = "000.00.00.X99"'
    assert result.added[1].name == "UBND huyện Núi Thành" and result.added[1].email is None
    unusable = "no usable name (empty, too long or control characters)"
    assert [why.split(":")[0] for _, why in result.skipped] == [
        "not an organ code", unusable, unusable, unusable]
    directory = Directory.from_toml_text(result.text)
    assert set(directory.hubs) == {OrganCode("000.00.00.G22")}
    assert directory.entry("000.00.02.H41").organ.name == result.added[0].name


def test_a_hub_the_directory_lacks_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a hub of the directory"):
        import_agencies(DIRECTORY, [Agency("000.00.02.H41", "UBND huyện")],
                        hub="000.00.90.H41")


@given(st.text())
def test_toml_strings_read_back_as_written(value: str) -> None:
    import tomllib

    assert tomllib.loads(f"key = {toml_string(value)}")["key"] == value


_codes = st.builds("{:03d}.{:02d}.{:02d}.{}{:02d}".format, st.integers(0, 3),
                   st.integers(0, 3), st.integers(0, 3),
                   st.sampled_from("HGK"), st.integers(10, 12))
_names = st.text(alphabet=string.ascii_letters + " ăơưđ\"\\\n\t\x7f", max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_codes, _names), max_size=25))
def test_any_agency_list_yields_a_directory_that_loads(rows: list[tuple[str, str]]) -> None:
    before = Directory.from_toml_text(DIRECTORY)
    result = import_agencies(DIRECTORY, [Agency(code, name) for code, name in rows])
    after = Directory.from_toml_text(result.text)
    for entry in before:
        assert after.entry(entry.code).organ == entry.organ
    assert len(after) == len(before) + len(result.added)
    again = import_agencies(result.text, [Agency(code, name) for code, name in rows])
    assert again.added == ()
