"""Build (or find cached) the offline bench's corpus: `python benchmarks/offline_corpus.py [N [PATH]]`.

The work is capture/bench/corpus.py's (`ebcap bench --offline` uses it too): everyday traffic
captured by tcpdump on a throwaway testbed, repeated to N packets (default 1,000,000), cached as
$TMPDIR/ebcap-offline-corpus-N.pcap. Needs root (network namespaces) and tcpdump.
"""

import sys

from ebcap.capture.bench.corpus import main

if __name__ == "__main__":
    sys.exit(main(sys.argv))
