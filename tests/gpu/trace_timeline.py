#!/usr/bin/env python3
"""What each kernel adds to a profiled window's length, from a `trimvl bench --profile` trace.

With programmatic dependent launch a kernel starts while its predecessor runs and waits inside, so
per-kernel durations overlap and their sum says little. This walks the device events in start order
and charges each one only the time by which it pushes the end of the device timeline further
(`exposed`); time with nothing running is charged to the event after it as `idle before`. The
exposed and idle columns add up to the window. Kernels are told apart by name and grid, so the
GEMVs of different projections get rows of their own.

    tests/gpu/trace_timeline.py /tmp/profile/decode-full-1024.json [--steps 32] [--gaps 10]

`--gaps N` also lists the N longest idle gaps with the host calls running during each, which is
where a host-paced window (syncs, launches) shows.
"""
import argparse
import collections
import json
import re
import signal
import sys

DEVICE_CATEGORIES = {"kernel", "gpu_memcpy", "gpu_memset"}
HOST_CATEGORIES = {"cpu_op", "cuda_runtime", "cuda_driver", "user_annotation"}


def short_name(name):
    name = re.sub(r"^void ", "", name).replace("(anonymous namespace)::", "")
    name = name.split("(", 1)[0]  # drop the parameter list
    depth, out = 0, []
    for ch in name:  # drop template arguments, keeping the outer name
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    name = "".join(out)
    return name.rsplit("::", 1)[-1] or name


def load(path):
    with open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    device, host = [], []
    for e in events:
        if e.get("ph") != "X" or "dur" not in e:
            continue
        cat = e.get("cat", "")
        if cat in DEVICE_CATEGORIES:
            grid = e.get("args", {}).get("grid")
            label = short_name(e["name"])
            if grid:
                label += " grid " + "x".join(str(g) for g in grid)
            device.append((float(e["ts"]), float(e["ts"]) + float(e["dur"]), label))
        elif cat in HOST_CATEGORIES:
            host.append((float(e["ts"]), float(e["ts"]) + float(e["dur"]), e["name"]))
    device.sort()
    host.sort()
    return device, host


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace")
    parser.add_argument("--steps", type=int, default=1, help="divide the totals by this (decode steps profiled)")
    parser.add_argument("--gaps", type=int, default=0, help="list this many of the longest idle gaps")
    parser.add_argument("--rows", type=int, default=30)
    args = parser.parse_args()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    try:
        device, host = load(args.trace)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"{args.trace}: cannot read the trace: {e}")
    if not device:
        sys.exit(f"{args.trace}: no device events")

    exposed = collections.defaultdict(float)
    idle = collections.defaultdict(float)
    calls = collections.Counter()
    busy_sum = collections.defaultdict(float)
    gaps = []
    frontier = device[0][0]
    for start, end, label in device:
        calls[label] += 1
        busy_sum[label] += end - start
        if start > frontier:
            idle[label] += start - frontier
            gaps.append((start - frontier, frontier, start, label))
        exposed[label] += max(0.0, end - max(frontier, start))
        frontier = max(frontier, end)
    span = frontier - device[0][0]
    n = args.steps
    print(f"{args.trace}: window {span / 1e3:.3f} ms ({span / n:.1f} us a step over {n}), "
          f"idle {sum(idle.values()) / 1e3:.3f} ms, {len(device)} device events")
    print(f"{'calls/step':>10} {'exposed us/step':>16} {'idle before':>12} {'duration us/call':>17}  kernel")
    order = sorted(calls, key=lambda k: exposed[k] + idle[k], reverse=True)
    for label in order[: args.rows]:
        print(f"{calls[label] / n:>10.1f} {exposed[label] / n:>16.1f} {idle[label] / n:>12.1f} "
              f"{busy_sum[label] / calls[label]:>17.2f}  {label}")
    rest = order[args.rows:]
    if rest:
        print(f"{'':>10} {sum(exposed[k] for k in rest) / n:>16.1f} {sum(idle[k] for k in rest) / n:>12.1f} "
              f"{'':>17}  {len(rest)} more")

    if args.gaps:
        print(f"\nlongest idle gaps (host calls under way during each, outermost first):")
        for length, begin, end, label in sorted(gaps, reverse=True)[: args.gaps]:
            under = [h for h in host if h[0] < end and h[1] > begin]
            names = collections.Counter(h[2] for h in under)
            listed = ", ".join(f"{name} x{c}" if c > 1 else name for name, c in names.most_common(6))
            print(f"  {length:8.1f} us before {label}: {listed}")


if __name__ == "__main__":
    main()
