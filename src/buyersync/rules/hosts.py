"""Which hosts only accept connections from this machine (serve's bind rule, and
Google Sheets credentials being optional for a local stand-in)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine.

    ``localhost`` and loopback addresses (127.0.0.0/8, ::1) are; ``0.0.0.0``, ``::``,
    other addresses and other host names are not (a name may resolve anywhere).
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
