"""Value checks more than one configuration section uses (the loader and the store sections).

Its own module so that each section's parser imports these without importing
the loader that imports it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from config.reader import Section

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                      1827, 2192, 2557, 2922, 3288, 3653)  # fmt: skip
SG_ID = r"sg-[0-9a-f]{8,17}"


def matches(pattern: str) -> Callable[[str], bool]:
    return lambda value: re.fullmatch(pattern, value) is not None


def is_narrow_cidr(value: str) -> bool:
    """An IPv4 CIDR, but never 0.0.0.0/0: a store is reached from named networks only."""
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError:
        return False
    return network.prefixlen > 0


def ingress_sources(s: Section) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A store's ``ingress_cidrs`` and ``ingress_security_group_ids``: who may connect to it."""
    cidrs = s.strings("ingress_cidrs", is_narrow_cidr, "an IPv4 CIDR narrower than /0")
    groups = s.strings("ingress_security_group_ids", matches(SG_ID), "a security group id (sg-...)")
    return cidrs, groups
