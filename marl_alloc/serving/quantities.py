"""Kubernetes resource quantities ("500m", "2", "4Gi", "1.5e3") as floats.

The grammar is `k8s.io/apimachinery/pkg/api/resource.Quantity`: a signed decimal number and one
suffix, binary SI (Ki Mi Gi Ti Pi Ei), decimal SI (n u m "" k M G T P E) or a decimal exponent
(e3, E-2). CPU comes out in cores, memory in bytes.
"""

import functools
import re

from marl_alloc.serving.errors import shown

BINARY_SI = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_SI = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
# "1E" is one exa, "1E3" one thousand: the regex tries the SI letter first and backtracks.
QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> float:
    # Cached: a cluster repeats few distinct strings ("16", "64Gi", "500m") over many nodes.
    match = QUANTITY.match(text.strip())
    if match is None:
        raise QuantityError(
            f"'{shown(text)}' is not a Kubernetes quantity (e.g. 500m, 2, 4Gi, 1e3)"
        )
    number, suffix = match.group(1), match.group(2) or ""
    if suffix in BINARY_SI:
        return float(number) * BINARY_SI[suffix]
    if suffix in DECIMAL_SI:
        return float(number) * DECIMAL_SI[suffix]
    return float(number) * 10.0 ** int(suffix[1:])


def parse_quantity(value: str | int | float) -> float:
    """The quantity's value in base units (cores, bytes); JSON numbers are taken as they are."""
    if isinstance(value, bool):
        raise QuantityError(f"{shown(value)} is not a Kubernetes quantity")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise QuantityError(f"{shown(value)} is not a Kubernetes quantity")
    return _parse_text(value)
