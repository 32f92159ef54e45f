"""`audit networks` output: a plain-text table for people, JSON for programs."""

from __future__ import annotations

import json
from typing import Any

MAX_TEXT_EDGES = 20  # per network in the text table (JSON has them all)


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


def render_text(data: dict[str, Any]) -> str:
    networks = data["networks"]
    lines = [f"run {data['run']}: {len(networks)} network(s) among {data['sites']} sites"]
    for net in networks:
        lines.append("")
        lines.append(f"network {net['network']}: {net['size']} sites, {net['rogue']} judged rogue")
        width = max(len(m["url"]) for m in net["members"])
        for m in net["members"]:
            score = "" if m["score"] is None else m["score"]
            line = f"  {m['url']:<{width}}  {m['verdict']:<12} {score:>3}"
            if m["network_verdict"] != m["verdict"]:
                line += f"  -> {m['network_verdict']} ({m['network_score']}) with the network finding"
            lines.append(line)
        lines.append("  links:")
        for edge in net["edges"][:MAX_TEXT_EDGES]:
            why = "; ".join(r["reason"] for r in edge["reasons"])
            lines.append(f"    {edge['a']} - {edge['b']}  {edge['weight']:.2f}  {why}")
        if len(net["edges"]) > MAX_TEXT_EDGES:
            lines.append(f"    (+{len(net['edges']) - MAX_TEXT_EDGES} more in --format json)")
    if data["commons"]:
        lines.append("")
        lines.append("common identifiers, ignored (they link unrelated sites):")
        for c in data["commons"][:20]:
            lines.append(f"  {c['kind']} {c['value']}: {c['sites']} sites ({c['why']})")
    return "\n".join(lines) + "\n"


RENDERERS = {"table": render_text, "json": render_json}
