"""How a printer stops early, and tcpdump's one truncation marker."""


class Truncated(Exception):
    """Raised inside a decoder; the line printer turns it into tcpdump's ` [|proto]` marker."""


class StopPacket(Exception):
    """The line is complete (tcpdump returned early after printing a marker)."""


def trunc(proto: str) -> str:
    """tcpdump's nd_print_trunc: ` [|proto]`, the line's end where the captured bytes ran out."""
    return " [|%s]" % proto
