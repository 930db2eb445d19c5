"""The organ registry through the 2025 reform: organs with validity dates and successors,
what sending to a closed organ does (refused naming the successor, or forwarded), a
directory re-parented by a plan (districts close, communes move under the province, a
merged province closes into the one keeping its code), the text written reading back as
itself, and the axis's ``oldCode`` closing an old code into the new."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docflow.agencies import Agency, import_agencies
from docflow.errors import ClosedOrganError, ConfigError
from docflow.harness.directory import quang_nam
from docflow.model import DEFAULT_TZ, OrganCode
from docflow.reform import ReformAction, ReformPlan, apply_plan, directory_toml
from docflow.routing import ClosedPolicy, Directory

REFORM = dt.datetime(2025, 7, 1, tzinfo=DEFAULT_TZ)
BEFORE = REFORM - dt.timedelta(seconds=1)
PROVINCE, OTHER = OrganCode("000.00.00.H41"), OrganCode("000.00.00.H43")
DISTRICT, COMMUNE = OrganCode("000.00.01.H41"), OrganCode("000.01.01.H41")

LIVES = """\
[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
level = "province"
closed = 2025-07-01
successor = "000.00.00.H43"

[[organs]]
code = "000.00.00.H43"
name = "UBND thành phố Đà Nẵng"
level = "province"

[[organs]]
code = "000.00.01.H41"
name = "UBND thành phố Tam Kỳ"
level = "district"
parent = "000.00.00.H41"
closed = 2025-07-01T00:00:00+07:00
successor = "000.00.00.H41"

[[organs]]
code = "000.00.02.H41"
name = "UBND huyện đóng không người kế nhiệm"
level = "district"
parent = "000.00.00.H41"
closed = 2025-07-01

[[organs]]
code = "000.00.05.H43"
name = "Sở mới"
level = "department"
parent = "000.00.00.H43"
established = 2026-01-01
"""


def lives() -> Directory:
    return Directory.from_toml_text(LIVES)


def test_a_date_is_its_first_moment_in_vietnam() -> None:
    organ = lives().entry(PROVINCE).organ
    assert organ.closed == REFORM
    assert organ.open_at(BEFORE) and not organ.open_at(REFORM)
    assert lives().entry(DISTRICT).organ.closed == REFORM  # a date-time says the same


def test_the_successor_line_is_followed_to_an_open_organ() -> None:
    directory = lives()
    assert directory.successor(DISTRICT, BEFORE) == DISTRICT
    assert directory.successor(DISTRICT, REFORM) == OTHER  # via the province, closed too
    assert [str(o.code) for o in directory.lineage(DISTRICT)] == [
        "000.00.01.H41", "000.00.00.H41", "000.00.00.H43"]
    assert directory.successor("000.00.02.H41", REFORM) is None
    assert directory.successor("000.00.05.H43", REFORM) is None  # not established yet
    assert directory.successor("000.00.09.H99", REFORM) is None  # not listed


def test_a_closed_organ_is_refused_naming_its_successor() -> None:
    directory = lives()
    assert directory.addressee(DISTRICT, BEFORE) == DISTRICT
    with pytest.raises(ClosedOrganError) as caught:
        directory.addressee(DISTRICT, REFORM)
    error = caught.value
    assert error.successor == str(OTHER) and error.where == str(DISTRICT)
    assert "closed on 01/07/2025" in error.message and "UBND thành phố Đà Nẵng" in error.message
    assert "address it to 000.00.00.H43" in (error.hint or "")
    assert directory.addressee(DISTRICT, REFORM, policy=ClosedPolicy.FORWARD) == OTHER
    with pytest.raises(ClosedOrganError, match="no successor"):
        directory.addressee("000.00.02.H41", REFORM, policy=ClosedPolicy.FORWARD)
    with pytest.raises(ClosedOrganError, match="not yet"):
        directory.addressee("000.00.05.H43", REFORM)
    assert directory.addressee("000.00.05.H43", dt.datetime(2026, 1, 1, tzinfo=DEFAULT_TZ))
    # an organ the directory does not list is left to routing
    assert directory.addressee("000.00.09.H99", REFORM) == OrganCode("000.00.09.H99")


def test_the_policy_is_the_directorys_data() -> None:
    forward = Directory.from_toml_text('[routing]\nclosed_organs = "forward"\n' + LIVES)
    assert forward.closed_organs is ClosedPolicy.FORWARD
    assert forward.addressee(DISTRICT, REFORM) == OTHER
    with pytest.raises(ConfigError, match="closed_organs = 'redirect' is not a policy"):
        Directory.from_toml_text('[routing]\nclosed_organs = "redirect"\n' + LIVES)


@pytest.mark.parametrize(("change", "message"), [
    (("successor = \"000.00.00.H43\"\n", ""), None),  # a plain closure is fine
    (("closed = 2025-07-01\nsuccessor", "successor"), "does not close"),
    (('successor = "000.00.00.H43"', 'successor = "000.00.00.H99"'), "not in the directory"),
    (('successor = "000.00.00.H43"', 'successor = "000.00.00.H41"'), "lead back"),
    (("closed = 2025-07-01\nsuccessor", "established = 2025-08-01\nclosed = 2025-07-01\n"
      "successor"), "before it is established"),
    (('[[organs]]\ncode = "000.00.02.H41"', '[[organs]]\ncode = "000.00.03.H41"\nname = "x"\n'
      'level = "commune"\nparent = "000.00.02.H41"\n\n[[organs]]\ncode = "000.00.02.H41"'),
     "stays open under 000.00.02.H41"),
    (("closed = 2025-07-01\nsuccessor", 'closed = "1/7/2025"\nsuccessor'), "is not a date"),
])
def test_a_life_that_makes_no_sense_is_refused(change: tuple[str, str],
                                                message: str | None) -> None:
    text = LIVES.replace(*change, 1)
    assert text != LIVES
    if message is None:
        Directory.from_toml_text(text)
        return
    with pytest.raises(ConfigError, match=message):
        Directory.from_toml_text(text)


PLAN = """\
effective = 2025-07-01
dissolve = ["district"]
note = "Nghị quyết 202/2025/QH15"

[[close]]
code = "000.00.00.H41"
successor = "000.00.00.H43"

[[rename]]
code = "000.00.00.H43"
name = "UBND thành phố Đà Nẵng (sau hợp nhất)"
"""


def small() -> Directory:
    return Directory.from_toml_text(quang_nam(districts=2, communes=2, departments=2))


def test_the_4_level_directory_becomes_3_levels_by_the_plan() -> None:
    before = small()
    reform = apply_plan(before, ReformPlan.from_toml_text(PLAN))
    after = reform.directory
    by_action: dict[ReformAction, list[str]] = {}
    for change in reform.changes:
        by_action.setdefault(change.action, []).append(change.subject)
    assert by_action[ReformAction.LEVEL] == ["commune"]
    assert sorted(by_action[ReformAction.CLOSE]) == [
        "000.00.00.H41", "000.00.01.H41", "000.00.02.H41"]
    # the communes and the departments go to the organ that stays open above them
    assert len(by_action[ReformAction.MOVE]) == 2 + 2 * 2
    assert by_action[ReformAction.RENAME] == ["000.00.00.H43"]
    for entry in after:
        organ = entry.organ
        if organ.level == "district":
            assert organ.closed == REFORM and organ.successor == OTHER  # via the province
        if organ.level == "commune":
            assert organ.parent == OTHER and organ.open_at(REFORM)
    assert after.hierarchy.level("commune").parents == ("district", "province")
    # the hubs, endpoints and pulls stay; closed organs stay with their names
    assert after.hubs == before.hubs
    assert {e.code: (e.hub, e.pull) for e in after} == {e.code: (e.hub, e.pull) for e in before}
    assert after.entry(DISTRICT).organ.name == before.entry(DISTRICT).organ.name
    # what is written reads back as itself, and the same plan again changes nothing
    assert Directory.from_toml_text(reform.text) == after
    assert apply_plan(after, ReformPlan.from_toml_text(PLAN)).changes == ()
    # before the date nothing is closed yet: documents of 30/6 went where they were sent
    assert after.addressee(COMMUNE, BEFORE) == COMMUNE
    assert after.addressee(DISTRICT, BEFORE) == DISTRICT
    with pytest.raises(ClosedOrganError, match=r"000\.00\.00\.H43"):
        after.addressee(DISTRICT, REFORM)


def test_routes_of_a_closed_organ_stay_for_what_was_sent_before() -> None:
    reform = apply_plan(small(), ReformPlan.from_toml_text(PLAN))
    assert reform.directory.path(COMMUNE, DISTRICT) == small().path(COMMUNE, DISTRICT)


@pytest.mark.parametrize(("plan", "message"), [
    ("dissolve = [\"ward\"]", "dissolves level 'ward'"),
    ('[[close]]\ncode = "000.00.09.H99"', "names 000.00.09.H99, not in the directory"),
    ('[[move]]\ncode = "000.01.01.H41"\nparent = "000.00.01.H41"',
     "moves 000.01.01.H41 under 000.00.01.H41, which closes"),
    ('[[move]]\ncode = "000.00.31.H41"\nparent = "000.01.01.H41"',
     "cannot move under 000.01.01.H41"),
    ('[[close]]\ncode = "000.00.00.H43"\nsuccessor = "000.00.00.H41"', "lead back"),
    ('[[rename]]\ncode = "000.00.00.H43"\nname = "  "', "empty name"),
    ("colour = 1", "unknown key"),
    ("[[close]]\nsuccessor = \"000.00.00.H43\"", "missing key 'code'"),
])
def test_a_plan_the_directory_cannot_hold_is_refused_whole(plan: str, message: str) -> None:
    text = PLAN.replace('note = "Nghị quyết 202/2025/QH15"', "") + "\n" + plan + "\n"
    if plan.startswith("dissolve") or plan.startswith("colour"):
        text = ("effective = 2025-07-01\n" + plan + "\n")
    with pytest.raises(ConfigError, match=message):
        apply_plan(small(), ReformPlan.from_toml_text(text))


def test_a_plan_without_its_date_is_refused() -> None:
    with pytest.raises(ConfigError, match="effective"):
        ReformPlan.from_toml_text('dissolve = ["district"]')


@settings(max_examples=25, deadline=None)
@given(districts=st.integers(1, 4), communes=st.integers(1, 3), departments=st.integers(1, 3),
       pull_every=st.integers(0, 3), forward=st.booleans())
def test_any_directory_written_reads_back_as_itself(districts: int, communes: int,
                                                    departments: int, pull_every: int,
                                                    forward: bool) -> None:
    text = quang_nam(districts=districts, communes=communes, departments=departments,
                     pull_every=pull_every)
    if forward:
        text = text.replace("hop_limit = 6", 'hop_limit = 6\nclosed_organs = "forward"')
    directory = Directory.from_toml_text(text)
    assert Directory.from_toml_text(directory_toml(directory)) == directory
    after = apply_plan(directory, ReformPlan.from_toml_text(PLAN)).directory
    assert Directory.from_toml_text(directory_toml(after)) == after
    # every organ open before is open after the reform or answered for by an open one
    for entry in directory:
        assert after.successor(entry.code, REFORM) is not None


# ------------------------------------------------------------------ the axis's oldCode

AXIS_LIST = """\
# the operator's file
[[organs]]
code = "000.00.00.G05"
name = "Bộ Kế hoạch và Đầu tư"
level = "province"

[[organs]]
code = "000.00.01.G05"
name = "Vụ Tổng hợp"  # a comment kept
level = "department"
"""


def test_an_old_code_is_closed_into_the_new_one() -> None:
    at = dt.datetime(2025, 3, 1, tzinfo=DEFAULT_TZ)
    result = import_agencies(AXIS_LIST, [
        Agency("000.00.00.G12", "Bộ Tài chính", old_code="000.00.00.G05"),
        Agency("000.00.00.G13", "Bộ Nông nghiệp và Môi trường", old_code="000.00.00.G09"),
        Agency("000.00.00.G14", "Bộ Dân tộc", old_code="not-a-code"),
    ], at=at)
    directory = Directory.from_toml_text(result.text)
    assert "# the operator's file" in result.text and "# a comment kept" in result.text
    old = directory.entry("000.00.00.G05").organ
    assert (old.closed, old.successor) == (at, OrganCode("000.00.00.G12"))
    new = directory.entry("000.00.00.G12").organ
    assert (new.level, new.parent) == ("province", None)  # the old one's place
    # the old organ's department follows it
    assert directory.entry("000.00.01.G05").organ.parent == OrganCode("000.00.00.G12")
    # an old code never listed is kept closed, so documents under it are traced
    assert directory.successor("000.00.00.G09", at) == OrganCode("000.00.00.G13")
    assert set(result.closed) == {(OrganCode("000.00.00.G05"), OrganCode("000.00.00.G12")),
                                  (OrganCode("000.00.00.G09"), OrganCode("000.00.00.G13"))}
    assert [code for code, why in result.skipped
            if why.startswith("oldCode is not an organ code")] == ["000.00.00.G14"]
    assert "000.00.00.G14" in {str(organ.code) for organ in result.added}  # still added
    with pytest.raises(ClosedOrganError, match=r"000\.00\.00\.G12"):
        directory.addressee("000.00.00.G05", at)
    # importing the same list again changes nothing
    again = import_agencies(result.text, [
        Agency("000.00.00.G12", "Bộ Tài chính", old_code="000.00.00.G05")], at=at)
    assert again.text == result.text and again.closed == ()


def test_old_codes_need_the_time_they_were_read() -> None:
    with pytest.raises(ConfigError, match="needs the time"):
        import_agencies(AXIS_LIST, [Agency("000.00.00.G12", "Bộ Tài chính",
                                           old_code="000.00.00.G05")])


def test_the_axis_sdks_agency_row_carries_its_old_code() -> None:
    """The official SDK's agency fields (`id`, `pid`, `code`, `name`, `mail`, `oldCode`)
    and the token LGSP's (`orgCode`, `orgName`, `parentCode`) read to one Agency; its
    old code is what closes the old organ on import."""
    from docflow.transport._http import agency

    sdk = agency({"id": "1024", "pid": "1", "code": "000.00.00.G12", "name": "Bộ Tài chính",
                  "mail": "btc@mof.gov.vn", "oldCode": "000.00.00.G05"})
    assert (sdk.code, sdk.name, sdk.email, sdk.parent, sdk.old_code) == (
        "000.00.00.G12", "Bộ Tài chính", "btc@mof.gov.vn", "1", "000.00.00.G05")
    assert sdk.row["id"] == "1024"
    lgsp = agency({"orgCode": "000.00.01.H41", "orgName": "UBND thành phố Tam Kỳ",
                   "parentCode": "000.00.00.H41"})
    assert lgsp.old_code == "" and lgsp.parent == "000.00.00.H41"
    at = dt.datetime(2025, 3, 1, tzinfo=DEFAULT_TZ)
    result = import_agencies(AXIS_LIST, [sdk], at=at)
    assert result.closed == ((OrganCode("000.00.00.G05"), OrganCode("000.00.00.G12")),)
