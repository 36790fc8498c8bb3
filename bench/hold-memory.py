#!/usr/bin/env python3
"""Holds all but MARGIN MiB of the machine's available memory, every page
written, until it is terminated; creates READY_FILE once it holds it.

    bench/hold-memory.py MARGIN_MIB READY_FILE

Why: on the virtual machines here, guest memory that is free is handed back
to the hypervisor (virtio-balloon free page reporting), and the first write
to such a page costs a trip to the host. A benchmark that writes files grows
the page cache into that free memory, so on a machine with gigabytes free it
measures those trips rather than the server: copying a webhook's objects
into the page cache took 16 % of the server's CPU in one run (BENCHMARKS.md,
fifteenth session). A server that has run for a while has filled its memory
with page cache and reuses those pages, which never go back to the host.
Holding the rest of memory puts the benchmark in that steady state within a
few seconds of writing, eviction by kswapd included.
"""
import signal
import sys
import time

margin = int(sys.argv[1]) * 2**20
with open("/proc/meminfo") as meminfo:
    available = next(
        int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:")
    )
chunk = 256 * 2**20
# Every byte written, so that every page is backed (a zeroed allocation would
# map the shared zero page and touch nothing).
held = [bytearray(b"\x01") * chunk for _ in range(max(0, (available - margin) // chunk))]
print(
    f"holding {len(held) * chunk // 2**20} MiB of the {available // 2**20} MiB available",
    file=sys.stderr,
    flush=True,
)
open(sys.argv[2], "w").close()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(60)
