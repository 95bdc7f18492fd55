"""`scripts/origin-farm serve --port P` (print base URLs, serve until interrupted) and
`scripts/origin-farm sample --port P` (print the OpenAlex-shaped sample for that port)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from originfarm.farm import Farm
from originfarm.sample import sample_lines


async def serve(port: int) -> None:
    async with Farm(port=port) as farm:
        for name, base in farm.base_urls().items():
            print(f"{name}\t{base}", flush=True)
        print(f"stats\t{farm.url('pdfs', '/_farm/stats')}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="origin-farm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "sample"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--port", type=int, default=8970 if name == "sample" else 0)
    args = parser.parse_args(argv)
    if args.command == "sample":
        sys.stdout.writelines(line + "\n" for line in sample_lines(port=args.port))
        return 0
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        return 130
    return 0
