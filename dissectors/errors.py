"""The printer's one error: the captured bytes ended before a header did."""


class Truncated(Exception):
    """Raised inside a decoder; the line printer turns it into tcpdump's ` [|proto]` marker."""
