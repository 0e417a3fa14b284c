#!/usr/bin/env python3
"""Instructions per call, by source line, from a callgrind profile of
`avala-bench --profile <side> <call> <n>` (see BENCHMARKS.md).

    python3 bench/callgrind_lines.py OUT N [REGEX]

OUT is a callgrind output written with --dump-instr=yes from a binary built
with line tables (CARGO_PROFILE_RELEASE_DEBUG=line-tables-only); N is the
number of calls profiled. For every source line whose file matches REGEX
(default: the workspace's own code (the SDK and the bench), the generated
code and progenitor-client) it
prints, per call: the line's own instructions plus the inclusive cost of the
calls made from it, so inlined code is charged to the line that wrote it.
Lines under 30 instructions a call are left out.

    python3 bench/callgrind_lines.py --sum OUT N NAME

prints the inclusive instructions per call of every function whose name
contains NAME (e.g. `Sides::get::{{closure}}`, the whole call on one side).
"""

import collections
import re
import sys

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = re.escape(ROOT) + r"/(bench/)?src/|out/codegen\.rs$|progenitor_client\.rs$"


def name(table, value):
    """Resolves callgrind's name compression: `(id) name` defines, `(id)` refers."""
    m = re.match(r"\((\d+)\)(?: (.*))?$", value)
    if not m:
        return value
    if m.group(2) is not None:
        table[m.group(1)] = m.group(2)
    return table.get(m.group(1), "?")


def parse(path):
    """(file, line) -> own cost, and (file, line) -> cost of calls from it."""
    own = collections.Counter()
    calls = collections.Counter()
    files, positions = {}, ["line"]
    fl = current = None
    pos = [0, 0]
    after_calls = False

    fns = {}
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line.startswith("positions:"):
                positions = line.split()[1:]
                pos = [0] * len(positions)
                continue
            m = re.match(r"^([a-z]+)=(.*)$", line)
            if m:
                key, value = m.groups()
                if key == "fl":
                    fl = current = name(files, value)
                elif key in ("fi", "fe"):
                    current = name(files, value)
                elif key == "fn":
                    name(fns, value)
                    current = fl
                elif key in ("cfi", "cfl"):
                    name(files, value)
                elif key == "cfn":
                    name(fns, value)
                elif key == "calls":
                    after_calls = True
                continue
            if not re.match(r"^[0-9+\-*]", line):
                continue
            parts = line.split()
            new = []
            for i, p in enumerate(parts[: len(positions)]):
                if p == "*":
                    new.append(pos[i])
                elif p[0] in "+-":
                    new.append(pos[i] + int(p, 0))
                else:
                    new.append(int(p, 0))
            pos = new
            cost = int(parts[len(positions)]) if len(parts) > len(positions) else 0
            key = (current, pos[positions.index("line")])
            if after_calls:
                calls[key] += cost
                after_calls = False
            else:
                own[key] += cost
    return own, calls


def by_line(path, n, pattern):
    own, calls = parse(path)
    rows = []
    for key in set(own) | set(calls):
        file, line = key
        if file and re.search(pattern, file):
            total = (own[key] + calls[key]) // n
            if total >= 30:
                rows.append((file, line, total))
    rows.sort()
    for file, line, total in rows:
        short = re.sub(r".*/(registry/src/[^/]+/|build/[^/]+/out/|work/main/)", "", file)
        print(f"{total:>9}  {short}:{line}")


def inclusive(path, n, needle):
    """Inclusive cost of functions, summed over their call sites."""
    fns, files = {}, {}
    totals = collections.Counter()
    target = None
    after_calls = False
    positions = 2

    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("positions:"):
                positions = len(line.split()) - 1
                continue
            m = re.match(r"^([a-z]+)=(.*)$", line)
            if m:
                key, value = m.groups()
                if key == "fn":
                    name(fns, value)
                elif key == "cfn":
                    target = name(fns, value)
                elif key in ("fl", "fi", "fe", "cfi", "cfl"):
                    name(files, value)
                elif key == "calls":
                    after_calls = True
                continue
            if after_calls and re.match(r"^[0-9+\-*]", line):
                parts = line.split()
                if len(parts) > positions and needle in (target or ""):
                    totals[target] += int(parts[positions])
                after_calls = False
    for fn, cost in totals.most_common(10):
        print(f"{cost // n:>9}  {fn}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--sum"] and len(args) == 4:
        inclusive(args[1], int(args[2]), args[3])
    elif len(args) in (2, 3):
        by_line(args[0], int(args[1]), args[2] if len(args) == 3 else DEFAULT)
    else:
        sys.exit(__doc__)
