"""The bench's output: tables printed as aligned text and written between markers into docs/benchmarks.md."""
from __future__ import annotations

import datetime
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

START = "<!-- bench:start (written by `make bench`; edit outside the markers) -->"
END = "<!-- bench:end -->"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    goal: str | None = None  # what we aim for, printed beside the figures (never judged)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])


def render_text(table: Table) -> str:
    widths = [max(len(c), *(len(r[i]) for r in table.rows)) if table.rows else len(c)
              for i, c in enumerate(table.columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(table.columns, widths, strict=True))
    out = [table.title, "=" * len(table.title), line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table.rows]
    if table.goal:
        out.append(f"goal: {table.goal}")
    out += [f"note: {n}" for n in table.notes]
    return "\n".join(out) + "\n"


def render_markdown(table: Table) -> str:
    out = [f"### {table.title}", "", "| " + " | ".join(table.columns) + " |",
           "|" + "|".join("---" for _ in table.columns) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in table.rows]
    out.append("")
    if table.goal:
        out.append(f"Goal: {table.goal}.")
    out += [f"- {n}" for n in table.notes]
    return "\n".join(out).rstrip() + "\n"


def machine_info() -> str:
    cpu = _cpu_model()
    mem_gib = _memory_gib()
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, "
            f"{mem_gib} GiB RAM, Python {platform.python_version()}")


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.machine()


def _memory_gib() -> str:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return "?"
    found = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return f"{int(found.group(1)) / 1024 / 1024:.1f}" if found else "?"


def load_average() -> str:
    """The 1-minute load average: on a shared machine it says how much the latencies are worth."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


def bench_block(tables: list[Table], now: datetime.datetime, load_at_start: str) -> str:
    header = [START, "", f"Measured {now:%Y-%m-%d %H:%M} UTC on {machine_info()}; load average {load_at_start} "
              "when the run started.", ""]
    return "\n".join(header) + "\n" + "\n".join(render_markdown(t) for t in tables) + "\n" + END + "\n"


def write_doc(path: Path, tables: list[Table], now: datetime.datetime, load_at_start: str) -> None:
    """Replace the figures between the markers, keeping the prose around them (markers appended when absent)."""
    block = bench_block(tables, now, load_at_start)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + block + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
