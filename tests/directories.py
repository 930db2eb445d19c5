"""Directory files for tests and benchmarks that run a province's LGSP hub between real
processes or servers: the province's node, the hub and Tam Kỳ's node at their URLs."""

from __future__ import annotations

#: ``.format(hub=, province=, district=, hub_url=, district_url=)``
LGSP_AND_DISTRICT = """
[[hubs]]
code = "{hub}"
name = "LGSP Quảng Nam"
endpoint = "{hub_url}"
[[organs]]
code = "{province}"
name = "UBND tỉnh Quảng Nam"
level = "province"
hub = "{hub}"
[[organs]]
code = "{district}"
name = "UBND thành phố Tam Kỳ"
level = "district"
hub = "{hub}"
endpoint = "{district_url}"
"""
