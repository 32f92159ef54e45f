"""Networks over a 10,000-site audit: time and memory of clustering a stored run.

Generates N made-up sites (default 10,000) as an audit would store them: one HTML page each,
run through the real extraction (identifiers, template shingles), into an SQLite audit
database. Planted among them: affiliate networks of 2 to 300 sites linked by a shared tag
manager ID, phone, e-mail, wallet or only by a template with other names and colours; the
rest are unrelated shops, thousands of which share a CDN, a theme's markup, its demo tag
ID and a website builder's pixel (commons that must link nobody). Then
`pharmcheck audit networks RUN --recompute` runs in a subprocess: we report its wall time,
its peak RSS (wait4) next to that of a process that only imports the same modules, and
whether exactly the planted networks were found.

    python benchmarks/networks.py                 # 10,000 sites
    python benchmarks/networks.py --sites 2000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")

WORDS = ["order", "delivery", "tablet", "parcel", "discreet", "support", "price", "quality", "generic", "brand", "package", "express", "secure", "payment", "customer", "service", "weekly", "offer", "health", "care", "dose", "pack", "bonus", "stock", "shop", "store", "clinic", "advice", "fast", "free", "world", "shipping", "return", "refund", "guarantee", "quick", "trusted", "online", "pharmacy", "medicine", "remedy"]
THEME_HEAD = ("<link rel=stylesheet href='https://cdn.jsdelivr.net/npm/bootstrap@5.3.0/dist/css/bootstrap.min.css'>"
              "<script>dataLayer.push({'id':'GTM-XXXXXXX'});fbq('init', '100200300400500');</script>")


def _text(rng: random.Random, sentences: int) -> str:
    return " ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 14))) + "." for _ in range(sentences))


def _unrelated(i: int, rng: random.Random, themed: bool) -> str:
    head = THEME_HEAD if themed else ""
    body = (f"<header class='site-header'><nav class='navbar'><a href='/'>Shop {i}</a></nav></header>"
            f"<main class='container'><h1>Shop {i}</h1><p>{_text(rng, 12)}</p>"
            f"<p>Call +1 {200 + i % 700} 555 {i:04d} or write to desk{i}@shop{i}.test</p></main>"
            "<footer class='site-footer'><p>MediShop theme</p></footer>") if themed else (
            f"<div class='s{i % 13}'><h{1 + i % 3}>Shop {i}</h{1 + i % 3}><p>{_text(rng, 10)}</p>"
            f"<p>Phone 0{i:09d}</p></div>")
    return f"<html><head><title>Shop {i}</title>{head}</head><body>{body}</body></html>"


def _network_page(net: int, kind: str, member: int, rng: random.Random, boilerplate: str) -> str:
    name = f"Net{net}Shop{member}"
    if kind == "template":
        colour = f"#{rng.randrange(0xFFFFFF):06x}"
        return (f"<html><head><title>{name}</title><style>.top{{background:{colour}}}</style></head><body>"
                f"<div class='top t{net}'><img src='/logo{member}.png' alt='{name}'><ul class='menu'>"
                f"<li><a href='/'>Home</a></li></ul></div><div class='body b{net}'><h1>{name}</h1>"
                f"<p>{boilerplate}</p><p>Call +44 20 {net:04d} {member:04d}</p></div></body></html>")
    shared = {"gtm": f"<script>dataLayer.push({{'gtm':'GTM-N{net:05d}'}});</script>",
              "phone": f"<p>Hotline +49 30 {net:04d} 7777</p>",
              "email": f"<p>Orders: orders{net}@net-mail.test</p>",
              # bech32 has no 1, b, i or o: the network number is spelled in its letters
              "wallet": f"<p>Bitcoin: bc1q{''.join('acdefghjkl'[int(d)] for d in f'{net:06d}')}"
                        "ar0srrr7xfkvy5l643lydnw9re59gtzzwf5md</p>"}[kind]
    return (f"<html><head><title>{name}</title></head><body><div class='m{member % 7}'><h1>{name}</h1>"
            f"<p>{_text(rng, 8)}</p>{shared}</div></body></html>")


def build(db: str, sites: int, seed: int) -> tuple[int, list[set[str]]]:
    # Imported here: the measuring parent stays small (a child's peak RSS starts from its
    # parent's at fork on Linux), so the sites are built in a child process of their own.
    sys.path.insert(0, SRC)
    from pharmcheck.audit.database import open_store
    from pharmcheck.check import assess, tool_info
    from pharmcheck.extract import extract_html
    from pharmcheck.models import SiteFacts
    from pharmcheck.ruleset import RuleSet

    rng = random.Random(seed)
    ruleset = RuleSet.load()
    store = open_store(db)

    run = store.start_run("generated", "generated", {}, tool_info(ruleset), sites)
    sizes = [300, 200, 120, 80, 50, 50, 30, 30, 20, 20] + [rng.randint(2, 12) for _ in range(50)]
    kinds = ["gtm", "phone", "template", "email", "wallet"]
    planted: list[set[str]] = []
    position = 0

    def add(url: str, html: str) -> None:
        nonlocal position
        facts = extract_html(html, url)
        site = SiteFacts(url=url, final_url=url, domain=url.split("//")[1].rstrip("/"), host=url.split("//")[1].rstrip("/"),
                         pages=[facts])
        store.add_site(run.id, position, assess(site, [], [], ruleset))
        position += 1

    started = time.monotonic()
    for net, size in enumerate(sizes):
        kind = kinds[net % len(kinds)]
        boilerplate = _text(rng, 14)
        members = set()
        for member in range(size):
            url = f"https://n{net}-m{member}.test/"
            add(url, _network_page(net, kind, member, rng, boilerplate))
            members.add(url)
        planted.append(members)
    for i in range(sites - position):
        add(f"https://u{i}.test/", _unrelated(i, rng, themed=i % 3 != 0))
    store.finish_run(run.id)
    store.close()
    print(f"generated {position} sites ({sum(len(p) for p in planted)} in {len(planted)} planted networks) "
          f"through extraction and rules in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return run.id, planted


def _run_measured(cmd: list[str]) -> tuple[float, int, str, str, int]:
    """Wall time and peak RSS (KB) of a child process, via wait4."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env={**os.environ, "PYTHONPATH": SRC})
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return elapsed, usage.ru_maxrss, out.read(), err.read(), proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--keep", metavar="DB", help="write the database here (default: a temporary file)")
    parser.add_argument("--build", metavar="DB", help=argparse.SUPPRESS)  # the child that generates the sites
    args = parser.parse_args()
    if args.build:
        run_id, planted = build(args.build, args.sites, args.seed)
        print(json.dumps({"run": run_id, "planted": [sorted(p) for p in planted]}))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep or str(Path(tmp) / "networks.db")
        made = subprocess.run([sys.executable, __file__, "--build", db, "--sites", str(args.sites), "--seed",
                               str(args.seed)], stdout=subprocess.PIPE, text=True, check=True)
        built = json.loads(made.stdout)
        run_id, planted = built["run"], [set(p) for p in built["planted"]]
        out = str(Path(tmp) / "networks.json")
        base_time, base_rss, _, _, _ = _run_measured([
            sys.executable, "-c", "import pharmcheck.cli, pharmcheck.cli.analysis, pharmcheck.networks.compute,"
            " pharmcheck.networks.cluster, pharmcheck.audit.store"])
        elapsed, rss, _, err, code = _run_measured([
            sys.executable, "-m", "pharmcheck", "audit", "networks", str(run_id), "--db", db, "--recompute",
            "--format", "json", "-o", out])
        if code != 0:
            print(err, file=sys.stderr)
            return 1
        data = json.loads(Path(out).read_text())
    found = [{m["url"] for m in n["members"]} for n in data["networks"]]
    for extra in [f for f in found if f not in planted][:3]:
        print(f"  not planted: {len(extra)} sites, e.g. {sorted(extra)[:3]}", file=sys.stderr)
    for lost in [p for p in planted if p not in found][:3]:
        print(f"  planted, not found as such: {len(lost)} sites, e.g. {sorted(lost)[:3]}", file=sys.stderr)
    exact = sorted(map(sorted, found)) == sorted(map(sorted, planted))
    edges = sum(len(n["edges"]) for n in data["networks"])
    print(f"networks over {args.sites:,} sites: {elapsed:.1f} s wall (process start {base_time:.1f} s included), "
          f"peak RSS {rss / 1024:.0f} MB ({(rss - base_rss) / 1024:.0f} MB beyond a process importing the same "
          f"modules, {base_rss / 1024:.0f} MB)")
    print(f"  {len(found)} networks found ({len(planted)} planted; exactly the planted ones: {exact}), "
          f"{edges:,} edges, {len(data['commons'])} commons ignored: "
          + ", ".join(f"{c['kind']} {c['value']} ({c['sites']})" for c in data["commons"][:4]))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
