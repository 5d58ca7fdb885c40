#!/usr/bin/env python3
"""Independent parser of pg2iceberg's /metrics for tests: reads a scrape (Prometheus text
format 0.0.4) from a file with the official Python client's parser (prometheus_client) and
prints one line per sample, `name{k="v",...}<TAB>value`, labels sorted by name.

It also checks what the parser leaves to the exposer: every family declares HELP and a TYPE
(counter, gauge or histogram), counter samples end in _total and are not negative, each
histogram series has buckets that never decrease, ending in le="+Inf" equal to its _count.

usage: parse_metrics.py FILE
Exit codes: 0 ok, 1 the text is malformed or breaks a rule above, 2 usage error.
"""

from __future__ import annotations

import math
import sys


def fail(msg: str) -> None:
    print(f"parse_metrics: {msg}", file=sys.stderr)
    sys.exit(1)


def key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{inner}}}"


def main() -> None:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    from prometheus_client.parser import text_string_to_metric_families

    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    if not text.endswith("\n"):
        fail("the exposition must end with a newline")
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and friends on malformed input
        fail(f"malformed exposition: {e}")
    lines = []
    for fam in families:
        if fam.type not in ("counter", "gauge", "histogram"):
            fail(f"family {fam.name} has type {fam.type}; every family must declare its TYPE")
        if not fam.documentation:
            fail(f"family {fam.name} has no HELP")
        buckets: dict[tuple, list[tuple[float, float]]] = {}
        counts: dict[tuple, float] = {}
        for s in fam.samples:
            if fam.type == "counter":
                if not s.name.endswith("_total"):
                    fail(f"counter sample {s.name} does not end in _total")
                if s.value < 0 or math.isnan(s.value):
                    fail(f"counter {key(s.name, s.labels)} is {s.value}")
            if fam.type == "histogram":
                series = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    buckets.setdefault(series, []).append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    counts[series] = s.value
            lines.append(f"{key(s.name, s.labels)}\t{s.value!r}")
        for series, bs in buckets.items():
            values = [v for _, v in sorted(bs)]
            if any(later < earlier for earlier, later in zip(values, values[1:])):
                fail(f"histogram {fam.name}{dict(series)} has decreasing buckets {values}")
            if sorted(bs)[-1][0] != math.inf:
                fail(f"histogram {fam.name}{dict(series)} has no le=\"+Inf\" bucket")
            if values[-1] != counts.get(series):
                fail(f"histogram {fam.name}{dict(series)}: +Inf bucket {values[-1]} != count "
                     f"{counts.get(series)}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
