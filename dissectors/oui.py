"""Organisationally unique identifiers by name (tcpdump's oui.c), for the printers that name them."""

OUI_IEEE_8021, OUI_IEEE_8023 = 0x0080C2, 0x00120F
OUIS = {0x000000: "Ethernet", 0x00000C: "Cisco", 0x00005E: "IANA", 0x000081: "Nortel Networks SONMP",
        0x0000F8: "Cisco bridged", 0x00A03E: "ATM Forum", 0x00E02F: "DOCSIS Spanning Tree",
        0x080007: "Appletalk", 0x009069: "Juniper", 0x080009: "Hewlett-Packard",
        0x0080C2: "IEEE 802.1 Private", 0x00120F: "IEEE 802.3 Private", 0x0012BB: "ANSI/TIA",
        0x001B21: "DCBX", 0x002320: "Nicira Networks", 0x5C16C7: "Big Switch Networks",
        0xB0D2F5: "Vello Systems", 0x002481: "HP", 0x0004EA: "HP-Labs", 0x748771: "Infoblox Inc",
        0xA42305: "Open Networking Lab", 0x00049F: "Freescale", 0x0015AD: "Netronome", 0x001018: "Broadcom",
        0x00E004: "PMC-Sierra", 0xD0F0DB: "Ericsson"}
