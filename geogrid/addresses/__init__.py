"""Address registers → buildings, offline (户籍台账地址匹配楼栋).

A street office's household register gives each household an address such as
``青禾名都小区3栋2单元501`` and no coordinates. This package places every row on a building of
a buildings layer by the address's parts, with no online geocoder:

==============  ===========================================================================
``parse``       address → parts: estate (小区) or village group (组), building (栋/号楼/幢),
                stairwell (单元), door; full-width digits and Chinese numerals normalised
``match``       parts → a building with a score and a reason (exact, fuzzy, ambiguous,
                unmatched); estates matched fuzzily with rapidfuzz, numbers never
``register``    a register sheet → households on buildings + a review sheet (.xlsx) the
                planner corrects and feeds back as overrides
``synthetic``   a made-up town and a register with realistic noise and known truth, for
                tests and the benchmark
==============  ===========================================================================

Ambiguous rows are never assigned: they wait in the review sheet for the planner.
"""

from geogrid.addresses.match import MARGIN, MIN_SCORE, STATUSES, BuildingIndex, match_parts
from geogrid.addresses.parse import AddressParts, chinese_number, normalise, parse_address
from geogrid.addresses.register import (
    REVIEW_ID,
    RegisterMatch,
    building_households,
    match_register,
    read_register,
    read_review,
    write_review,
)

__all__ = [
    "MARGIN",
    "MIN_SCORE",
    "REVIEW_ID",
    "STATUSES",
    "AddressParts",
    "BuildingIndex",
    "RegisterMatch",
    "building_households",
    "chinese_number",
    "match_parts",
    "match_register",
    "normalise",
    "parse_address",
    "read_register",
    "read_review",
    "write_review",
]
