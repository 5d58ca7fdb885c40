"""The conformance case format (../shared/cases/README.md): files of a case, the SQL steps of its
`__input.sql`, the names derived from its replicated table, and the pg2iceberg config for it."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import List, Optional, Tuple

# A marker is a whole line: `-- SETUP --`, `-- DATA --`, `-- SLEEP N --`.
MARKER_RE = re.compile(r"^\s*--\s*(SETUP|DATA|SLEEP\s+(\d+(?:\.\d+)?))\s*--\s*$", re.IGNORECASE)
IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
CREATE_TABLE_RE = re.compile(
    r"\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(" + IDENT + r"(?:\s*\.\s*" + IDENT + r")?)",
    re.IGNORECASE)
CREATE_PUBLICATION_RE = re.compile(r"\bCREATE\s+PUBLICATION\s+(" + IDENT + ")", re.IGNORECASE)


class CaseError(Exception):
    """A case's files do not follow the format."""


@dataclasses.dataclass
class Step:
    kind: str            # "setup" | "data" | "sleep"
    sql: str = ""        # setup / data
    seconds: float = 0   # sleep


@dataclasses.dataclass
class Case:
    name: str
    steps: List[Step]
    query: str
    reference: str       # raw text of __reference.tsv
    extra_yaml: str      # raw text of __extra.yaml ("" when absent)
    table: str           # the replicated table, unqualified (public.<table>)
    publication: str
    slot: str
    coordinator_schema: str

    @property
    def setup_steps(self) -> List[Step]:
        return [s for s in self.steps if s.kind == "setup"]

    @property
    def later_steps(self) -> List[Step]:
        return [s for s in self.steps if s.kind != "setup"]


def strip_sql_comments(sql: str) -> str:
    """Drops `--` line comments and `/* */` block comments, keeping string literals intact."""
    out = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'" or c == '"':
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_steps(text: str) -> List[Step]:
    """Splits `__input.sql` into steps at marker lines. SQL before the first marker must be only
    comments (a header); SQL after a SLEEP without a new marker continues as DATA."""
    steps: List[Step] = []
    current: Optional[Step] = None
    buf: List[str] = []
    seen_data = False

    def close() -> None:
        if current is not None and current.kind != "sleep":
            current.sql = "\n".join(buf).strip("\n") + "\n"
            if strip_sql_comments(current.sql).strip():
                steps.append(current)
        elif current is None and strip_sql_comments("\n".join(buf)).strip():
            raise CaseError("SQL before the first marker line (-- SETUP --)")

    for line in text.splitlines():
        m = MARKER_RE.match(line)
        if not m:
            buf.append(line)
            continue
        close()
        buf = []
        word = m.group(1).split()[0].upper()
        if word == "SETUP":
            if seen_data:
                raise CaseError("-- SETUP -- after -- DATA --")
            current = Step("setup")
        elif word == "DATA":
            seen_data = True
            current = Step("data")
        else:
            seen_data = True
            steps.append(Step("sleep", seconds=float(m.group(2))))
            current = Step("data")
    close()
    return steps


def unquote_ident(ident: str) -> str:
    ident = ident.strip()
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident.lower()


def replicated_table(steps: List[Step]) -> str:
    """The first CREATE TABLE in SETUP, without its schema."""
    for step in steps:
        if step.kind != "setup":
            continue
        m = CREATE_TABLE_RE.search(strip_sql_comments(step.sql))
        if m:
            return unquote_ident(re.findall(IDENT, m.group(1))[-1])
    raise CaseError("no CREATE TABLE in SETUP")


def setup_publication(steps: List[Step]) -> Optional[str]:
    for step in steps:
        if step.kind == "setup":
            m = CREATE_PUBLICATION_RE.search(strip_sql_comments(step.sql))
            if m:
                return unquote_ident(m.group(1))
    return None


def pg_name(text: str) -> str:
    """A name usable for a replication slot: lower case letters, digits and underscores."""
    return re.sub(r"[^a-z0-9_]", "_", text.lower())


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def list_cases(cases_dir: str) -> List[str]:
    suffix = "__input.sql"
    return sorted(f[: -len(suffix)] for f in os.listdir(cases_dir) if f.endswith(suffix))


def load_case(cases_dir: str, name: str) -> Case:
    base = os.path.join(cases_dir, name)
    steps = split_steps(read_text(base + "__input.sql"))
    if not any(s.kind == "setup" for s in steps):
        raise CaseError("no -- SETUP -- step")
    table = replicated_table(steps)
    extra = base + "__extra.yaml"
    return Case(
        name=name,
        steps=steps,
        query=read_text(base + "__query.sql"),
        reference=read_text(base + "__reference.tsv"),
        extra_yaml=read_text(extra) if os.path.exists(extra) else "",
        table=table,
        publication=setup_publication(steps) or "pg2iceberg_pub_" + pg_name(table),
        slot="pg2iceberg_slot_" + pg_name(table),
        coordinator_schema="_pg2iceberg_" + pg_name(table),
    )


# ------------------------------------------------------------------ config


def yaml_str(value) -> str:
    """A YAML scalar: JSON strings are valid YAML double-quoted strings."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(str(value))


def reindent(block: str, indent: int) -> List[str]:
    """The extra YAML lines, re-indented so that the least indented line sits at `indent`."""
    lines = [l.rstrip() for l in block.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if any("\t" in l[: len(l) - len(l.lstrip())] for l in lines):
        raise CaseError("__extra.yaml is indented with tabs")
    body = [l for l in lines if l.strip() and not l.lstrip().startswith("#")]
    least = min((len(l) - len(l.lstrip()) for l in body), default=0)
    return [(" " * indent + l[least:]) if l.strip() else "" for l in lines]


# Query mode (run_cases.py --source-mode query): the column the runner adds to a case's table
# and keeps at a new sequence value on every insert and update (a case has no watermark of its
# own), and the SQL that adds it.
QUERY_WATERMARK = "pg2i_wm"


def query_watermark_sql(table: str) -> str:
    t = "public." + table
    return ("CREATE SEQUENCE IF NOT EXISTS public.pg2i_wm_seq;\n"
            "CREATE OR REPLACE FUNCTION public.pg2i_wm_touch() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN NEW.%s := nextval('public.pg2i_wm_seq'); RETURN NEW; END$$;\n"
            "ALTER TABLE %s ADD COLUMN %s bigint NOT NULL DEFAULT nextval('public.pg2i_wm_seq');\n"
            "CREATE TRIGGER pg2i_wm_touch BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION "
            "public.pg2i_wm_touch();\n" % (QUERY_WATERMARK, t, QUERY_WATERMARK, t))


def query_mode_skip(case: Case) -> Optional[str]:
    """Why a case means nothing in query mode (None: it runs): polling cannot see deletes or
    truncations, and the runner's watermark column must not change a case's schema story (the
    runner drops that column from what the reader read before the case's query)."""
    data = " ".join(strip_sql_comments(s.sql) for s in case.later_steps if s.kind == "data")
    m = re.search(r"\b(DELETE|TRUNCATE|ALTER|DROP|CREATE|COPY)\b", data, re.I)
    if m:
        return "its changes include %s" % m.group(1).upper()
    return None


def make_config(case: Case, pg_port: int, sink: List[Tuple[str, object]],
                source_mode: str = "logical") -> str:
    """The pg2iceberg YAML for one case. `sink` holds the configuration-specific sink keys."""
    query = source_mode == "query"
    lines = [
        "tables:",
        "  - name: " + yaml_str("public." + case.table),
        *(["    watermark_column: " + QUERY_WATERMARK] if query else []),
        *reindent(case.extra_yaml, 4),
        "source:",
        "  mode: " + source_mode,
        *(["  query:", "    poll_interval: 300ms"] if query else []),
        "  postgres:",
        "    host: 127.0.0.1",
        "    port: %d" % pg_port,
        "    database: postgres",
        "    user: postgres",
        "  logical:",
        "    publication_name: " + yaml_str(case.publication),
        "    slot_name: " + yaml_str(case.slot),
        "state:",
        "  coordinator_schema: " + yaml_str(case.coordinator_schema),
        "sink:",
        "  namespace: default",
        "  flush_interval: 1s",
        "  materializer_interval: 1s",
        *("  %s: %s" % (k, yaml_str(v)) for k, v in sink),
        'metrics_addr: ""',
    ]
    return "\n".join(lines) + "\n"
