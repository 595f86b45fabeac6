"""Reads ringback_reminder_lateness_seconds from /metrics (stdin) and prints
count, and the histogram bucket bounds under which 50 %, 99 % and 100 % of reminders left."""
import re
import sys

buckets = []
count = 0
for line in sys.stdin:
    m = re.match(r'ringback_reminder_lateness_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
    if m:
        buckets.append((float(m.group(1)), int(m.group(2))))
    m = re.match(r"ringback_reminder_lateness_seconds_count (\d+)", line)
    if m:
        count = int(m.group(1))


def bound(q):
    for le, n in buckets:
        if count and n >= q * count:
            return f"{le * 1000:g}"
    return "?"


print(count, bound(0.5), bound(0.99), bound(1.0))
