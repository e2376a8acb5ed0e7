"""ebcap: eBPF packet capture. User-space side: CLI, filter compilation, loading, ring, pcapng."""

__version__ = "0.1.0"
