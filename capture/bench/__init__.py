"""`ebcap bench`: capture overhead against tcpdump on a throwaway veth testbed (benchmarks/README.md)."""
