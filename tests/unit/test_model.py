"""Organ codes, hierarchies (levels as data) and model invariants."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docflow.errors import ConfigError, DocflowError, ModelError, OrganCodeError
from docflow.model import (
    DEFAULT_TZ,
    Hierarchy,
    OrganCode,
    StatusCode,
    TraceHop,
    document_id_for,
)
from docflow.samples import sample_envelope
from tests.strategies import organ_codes


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("000.00.00.H41", 1, None),
        ("000.00.24.H44", 2, "000.00.00.H44"),
        ("000.46.24.H44", 3, "000.00.24.H44"),
        ("001.46.24.H44", 4, "000.46.24.H44"),
        ("000.00.00.G22", 1, None),
    ],
)
def test_organ_code_levels_and_parents(code: str, level: int, parent: str | None) -> None:
    organ = OrganCode(code)
    assert organ.code_level == level
    assert (str(organ.parent) if organ.parent else None) == parent


@pytest.mark.parametrize(
    "bad", ["", "H41", "000.00.00.h41", "00.00.00.H41", "000.00.00.H4", "000.00.00.H41 ",
            "000.00.00.H٤١", "000-00-00-H41", "000.00.00.H41\n"],
)
def test_bad_organ_codes_say_what_is_expected(bad: str) -> None:
    with pytest.raises(OrganCodeError) as info:
        OrganCode(bad)
    assert "VVV.ZZ.YY.Mxx" in str(info.value)
    assert isinstance(info.value, DocflowError)


@given(organ_codes)
def test_parent_chain_reaches_level_one(code: OrganCode) -> None:
    steps = 0
    while code.parent is not None:
        assert code.parent.code_level < code.code_level
        code = code.parent
        steps += 1
    assert code.code_level == 1 and steps <= 3


FOUR_LEVELS = """
[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
level = "province"

[[organs]]
code = "000.00.51.H41"
name = "Sở Thông tin và Truyền thông"
level = "department"

[[organs]]
code = "000.00.05.H41"
name = "UBND huyện Đại Lộc"
level = "district"

[[organs]]
code = "000.01.05.H41"
name = "UBND xã Đại Hiệp"
level = "commune"
"""

THREE_LEVELS = """
[[levels]]
key = "province"
name = "UBND tỉnh"

[[levels]]
key = "department"
name = "Sở, ban, ngành"
parents = ["province"]

[[levels]]
key = "commune"
name = "UBND xã, phường"
parents = ["province"]

[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
level = "province"

[[organs]]
code = "000.00.51.H41"
name = "Sở Nội vụ"
level = "department"

[[organs]]
code = "000.00.61.H41"
name = "UBND phường Bàn Thạch"
level = "commune"
"""


def test_four_level_hierarchy_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text(FOUR_LEVELS, encoding="utf-8")
    hierarchy = Hierarchy.from_toml(path)
    assert [level.key for level in hierarchy.levels] == [
        "province", "department", "district", "commune"]
    commune = hierarchy.get("000.01.05.H41")
    assert commune.parent == OrganCode("000.00.05.H41")
    assert [organ.name for organ in hierarchy.ancestors(commune.code)] == [
        "UBND huyện Đại Lộc", "UBND tỉnh Quảng Nam"]
    assert {o.name for o in hierarchy.children("000.00.00.H41")} == {
        "Sở Thông tin và Truyền thông", "UBND huyện Đại Lộc"}


def test_three_level_hierarchy_without_districts() -> None:
    hierarchy = Hierarchy.from_toml_text(THREE_LEVELS)
    assert len(hierarchy.levels) == 3
    assert hierarchy.get("000.00.61.H41").parent == OrganCode("000.00.00.H41")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[organs]]\ncode = 'x'\nname = 'a'\nlevel = 'province'", "not a valid organ code"),
        ("[[organs]]\ncode = '000.00.00.H41'\nname = 'a'\nlevel = 'planet'", "unknown level"),
        ("[[organs]]\ncode = '000.00.05.H41'\nname = 'a'\nlevel = 'district'",
         "not in the hierarchy"),
        (FOUR_LEVELS.replace('level = "commune"', 'level = "department"'), "cannot sit under"),
        ("[[organs]]\nname = 'a'", "missing key 'code'"),
        ("this is = = not toml", "invalid TOML"),
        ("[[levels]]\nkey='a'\nname='A'\nparents=['b']", "unknown parent level"),
    ],
)
def test_hierarchy_errors_are_config_errors(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Hierarchy.from_toml_text(text)


def test_missing_hierarchy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        Hierarchy.from_toml(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value)


def test_unknown_organ_lookup() -> None:
    with pytest.raises(ModelError, match="not in the hierarchy"):
        Hierarchy.from_toml_text(FOUR_LEVELS).get("000.00.99.H41")


def test_document_id_convention() -> None:
    info = sample_envelope().info
    assert info.document_id == document_id_for(
        info.sender.code, info.promulgation_date, info.code_number, info.code_notation)
    assert info.document_id == "000.00.00.H41,2018/09/10,4512/QĐ-UBND"


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ModelError, match="time-zone aware"):
        TraceHop(OrganCode("000.00.00.H41"), dt.datetime(2018, 1, 1))
    TraceHop(OrganCode("000.00.00.H41"), dt.datetime(2018, 1, 1, tzinfo=DEFAULT_TZ))


def test_status_codes_are_the_edxml_list() -> None:
    assert [code.value for code in StatusCode] == [
        "01", "02", "03", "04", "05", "06", "13", "15", "16"]
    assert StatusCode.ACCEPTED.description == "Đã tiếp nhận"


def test_from_toml_takes_a_path_as_str_or_path_and_text_has_its_own_name(
        tmp_path: Path) -> None:
    path = tmp_path / "h.toml"
    path.write_text(FOUR_LEVELS, encoding="utf-8")
    assert Hierarchy.from_toml(str(path)).organs == Hierarchy.from_toml(path).organs
    assert Hierarchy.from_toml_text(FOUR_LEVELS).organs == Hierarchy.from_toml(path).organs
    with pytest.raises(ConfigError, match="looks like TOML text") as info:
        Hierarchy.from_toml(FOUR_LEVELS)
    assert "from_toml_text" in str(info.value)


@given(st.text(max_size=12))
def test_a_website_normalises_to_itself(text: str) -> None:
    """What the writer writes is what the reader reads back: the website kept is a fixed
    point of the normalisation (the sender's scheme, slashes and blanks dropped, in any
    order: ``"0\\x85/"`` once left ``"0\\x85"``, read back as ``"0"``)."""
    from docflow.model import OrganCode, OrganInfo

    once = OrganInfo(OrganCode("000.00.00.A00"), "n", website=text).website
    assert OrganInfo(OrganCode("000.00.00.A00"), "n", website=once).website == once
