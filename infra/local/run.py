"""`make run`: bring the whole local stack up on the ports of API.md, print the URLs, stream the email links."""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from infra.local.signals import stop_requested
from infra.local.stack import ROOT, Ports, Stack, StackError

_LINK = re.compile(r"https?://\S+")


def main() -> int:
    data_dir = ROOT / ".local"
    stack = Stack(ports=Ports.from_env(dict(os.environ)), data_dir=data_dir,
                  extra_env={"MAIL_OUTBOX_DIR": os.environ.get("MAIL_OUTBOX_DIR", str(data_dir / "outbox"))})
    try:
        stack.start()
    except StackError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    (data_dir / "run.pid").write_text(str(os.getpid()))
    print(f"""
SMS Rooms is up.
  app + dashboard   {stack.app_url}/   (REST v1 under /v1, handler API at /stubs/handler_api.php)
  DynamoDB Local    {stack.dynamodb_url}   (data in {data_dir / 'dynamodb'})
  partner simulator {stack.simulator_url}/stubs/handler_api.php   (controls at /_sim/)
  localstripe       {stack.stripe_url}
  live updates      ws://127.0.0.1:{stack.ports.live}/local   (the dashboard's WebSocket; its pages poll without it)
  email outbox      {stack.outbox}
  logs              {data_dir / 'logs'}
Ctrl-C or 'make stop' stops everything; data stays in .local/.
""", flush=True)
    stopping = stop_requested()
    seen = set(os.listdir(stack.outbox))
    try:
        while not stopping.is_set():
            _print_new_mail(stack.outbox, seen)
            dead = [n for n, p in stack.procs.items() if p.poll() is not None]
            if dead:
                print(f"make run: {', '.join(dead)} stopped unexpectedly; see {data_dir / 'logs'}", file=sys.stderr)
                return 1
            time.sleep(0.5)
    finally:
        stack.stop()
        (data_dir / "run.pid").unlink(missing_ok=True)
        print("stopped; data kept in .local/")
    return 0


def _print_new_mail(outbox: Path, seen: set[str]) -> None:
    for name in sorted(os.listdir(outbox)):
        if name in seen or not name.endswith(".eml"):
            continue
        seen.add(name)
        text = (outbox / name).read_text(errors="replace")
        subject = next((ln[9:] for ln in text.splitlines() if ln.startswith("Subject: ")), "")
        links = _LINK.findall(text)
        print(f"[email] {subject} -> {outbox / name}" + (f"\n        link: {links[0]}" if links else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
