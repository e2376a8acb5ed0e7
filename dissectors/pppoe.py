

def pppoe_if_print(nd, data: bytes, length: int) -> None:
    """LINKTYPE_PPP_ETHER: the frame starts with the PPPoE header."""
    nd.ll_len = HDRLEN
    pppoe_print(nd, data, 0, length)
