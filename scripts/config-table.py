#!/usr/bin/env python3
"""Rewrites the settings table of docs/CONFIGURATION.md from SETTINGS in config.rs.

A unit test (config::docs_tests) fails when the two disagree; run this after changing a setting.
"""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
src = (root / "crates/ferrocast/src/config.rs").read_text()
start = src.index("pub const SETTINGS")
block = src[start:src.index("];", start)]
items = re.findall(r's\(\s*"([A-Z0-9_]+)",\s*"([^"]*)",\s*"((?:[^"\\]|\\.)*)",?\s*\)', block, re.S)
rows = []
for name, default, text in items:
    text = re.sub(r"\s+", " ", text)
    flag = "--" + name.lower().replace("_", "-")
    shown = f"`{default}`" if default else "(none)"
    rows.append(f"| `{name}` | `{flag}` | {shown} | {text} |")
doc_path = root / "docs/CONFIGURATION.md"
doc = doc_path.read_text()
head = doc[: doc.index("| Variable | Flag | Default | Meaning |")]
doc_path.write_text(head + "| Variable | Flag | Default | Meaning |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
print(f"{len(rows)} settings")
