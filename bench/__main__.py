"""Run the benchmarks, print their tables and record them in docs/benchmarks.md: `python -m bench [--only NAME …]`."""
from __future__ import annotations

import argparse
import datetime
import sys
import time
import traceback

from bench.context import BenchContext
from bench.registry import Benchmark, Needs, discover
from bench.report import Table, load_average, render_text, write_doc
from chalicelib.observability import logger
from infra.template import ROOT

DOC = ROOT / "docs" / "benchmarks.md"


def run_all(benchmarks: list[Benchmark], ctx: BenchContext) -> list[Table]:
    """Run in order of what each needs (so the stack starts once or twice), report in the declared order."""
    results: dict[str, Table] = {}
    ordered = sorted(benchmarks, key=lambda b: (b.needs, b.order))
    try:
        for index, bench in enumerate(ordered):
            started = time.monotonic()
            print(f"… {bench.name}", file=sys.stderr, flush=True)
            try:
                ctx.ensure(_stack_for(bench, ordered[index:]))
                results[bench.name] = bench.run(ctx)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                traceback.print_exc()
                results[bench.name] = Table(bench.name, ["error"], [[f"{type(exc).__name__}: {exc}"]])
            print(f"  {bench.name} took {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    finally:
        ctx.stop()
    return [results[b.name] for b in benchmarks if b.name in results]


def _stack_for(bench: Benchmark, remaining: list[Benchmark]) -> Needs:
    """What to have running: exactly what in-process benchmarks need (a scheduler would skew their counts); once
    the app is needed, everything the rest need, so the stack starts at most twice."""
    if bench.needs < Needs.APP:
        return bench.needs
    return max(b.needs for b in remaining)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {DOC.relative_to(ROOT)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    benchmarks = discover()
    if args.list:
        print("\n".join(f"{b.name} (needs {b.needs.name.lower()})" for b in benchmarks))
        return
    if args.only:
        unknown = set(args.only) - {b.name for b in benchmarks}
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        benchmarks = [b for b in benchmarks if b.name in args.only]
    logger.setLevel("WARNING")  # the services' info logs would drown the tables
    load = load_average()
    print(f"load average {load} (latencies are only comparable on a quiet machine)", file=sys.stderr)
    tables = run_all(benchmarks, BenchContext())
    print()
    print("\n".join(render_text(t) for t in tables))
    if not args.no_write and not args.only:  # a partial run would drop the other figures
        write_doc(DOC, tables, datetime.datetime.now(datetime.UTC), load)
        print(f"recorded in {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
