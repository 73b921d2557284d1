#!/usr/bin/env python3
"""Stall probe: is this machine freezing whole processes? (BENCHMARKS.md, "Session 7")

    scripts/stall-probe.py SECONDS OUT_FILE      # e.g. beside a scripts/cluster-bench.sh run

Sleeps 1 ms in a loop for SECONDS and writes to OUT_FILE every gap longer than 10 ms
("<unix time> gap_ms <ms>") and, once a second, how much the machine's softirq and steal time
grew ("<unix time> sec softirq <ticks> steal <ticks>", clock ticks of /proc/stat). On a VM whose
host throttles it, the gaps are ~100 ms and fall in seconds with steal. It sends no traffic,
starts nothing and stops by itself.
"""
import sys
import time


def softirq_and_steal():
    fields = open("/proc/stat").readline().split()
    return int(fields[7]), int(fields[8])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    duration, out = float(sys.argv[1]), open(sys.argv[2], "w")
    start = last = second = time.monotonic()
    prev = softirq_and_steal()
    while time.monotonic() - start < duration:
        time.sleep(0.001)
        now = time.monotonic()
        gap, last = now - last, now
        if gap > 0.01:
            out.write("%.3f gap_ms %.1f\n" % (time.time(), gap * 1e3))
            out.flush()
        if now - second >= 1:
            cur = softirq_and_steal()
            out.write("%.3f sec softirq %d steal %d\n" % (time.time(), cur[0] - prev[0], cur[1] - prev[1]))
            prev, second = cur, now


if __name__ == "__main__":
    main()
