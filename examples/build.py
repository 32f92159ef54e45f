"""Rebuild the example captures from the made-up sites in examples/sites/.

    python examples/build.py

Each folder under sites/ is one site, named by its host; the capture is written beside
this script as <name>.warc.gz, served at https://<host>/.
"""

from __future__ import annotations

from pathlib import Path

from pharmcheck.fetch.pagedir import site_dir_pages, write_warc

HERE = Path(__file__).resolve().parent
CAPTURES = {
    "www.northbridge-pharmacy.example": "northbridge-pharmacy.warc.gz",
    "cheap-meds-24.example": "cheap-meds-24.warc.gz",
}


def main() -> None:
    for host, name in CAPTURES.items():
        pages = site_dir_pages(HERE / "sites" / host, f"https://{host}/")
        print(write_warc(HERE / name, pages), f"({len(pages)} URLs)")


if __name__ == "__main__":
    main()
