#!/usr/bin/env python3
"""Lists the longest functions of the product code (src/, tests excluded), longest first.

A rough reader, good enough for a size report: a definition starts on a line at column 0 (or
inside a namespace, at column 0) that contains "(" and whose statement ends in "{", and ends
at the next line that is exactly "}". Lambdas and member functions defined in class bodies
are counted with their enclosing definition.

    scripts/largest_functions.py [N]      # N longest (default 15)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src"
START = re.compile(r"^[A-Za-z_][^;{}]*\(.*")


def functions(path):
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if START.match(line) and not line.startswith(("namespace", "class ", "struct ", "enum ", "#", "using ", "template")):
            # The signature may span lines; the body opens with "{" at a line's end.
            j = i
            while (j < len(lines) and not lines[j].rstrip().endswith(("{", ";", "}"))
                   and lines[j].strip()):
                j += 1
            if j < len(lines) and lines[j].rstrip().endswith("{"):
                k = j + 1
                while k < len(lines) and lines[k] != "}":
                    k += 1
                name = re.sub(r"\s+", " ", " ".join(lines[i:j + 1]))
                name = name.split("(")[0].split()[-1] if "(" in name else name
                yield name, i + 1, k - i + 1
                i = k + 1
                continue
        i += 1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    found = []
    for path in sorted(ROOT.rglob("*.cc")):
        if path.name.endswith("_test.cc"):
            continue
        for name, line, length in functions(path):
            found.append((length, f"{path.relative_to(ROOT.parent)}:{line}", name))
    found.sort(reverse=True)
    for length, where, name in found[:n]:
        print(f"{length:5d}  {name}  ({where})")


if __name__ == "__main__":
    main()
