"""Stage download: fetch CIFAR-10 from the first working source into data/raw/.

Writes the archive (or directory copy) plus data/raw/source.json recording which
source was used and its checksums. Everything is assembled in a temporary
directory and renamed into place, so a failure leaves no data/raw/ behind.
"""
from __future__ import annotations

import argparse

from src.core.atomic import atomic_path, write_json
from src.core.errors import stage_main
from src.config.params import load_params
from src.data.sources import SOURCE_RECORD, fetch_first

RAW_DIR = "data/raw"


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default=RAW_DIR)
    args = parser.parse_args(argv)
    params = load_params(args.params)["data"]

    with atomic_path(args.out, is_dir=True) as tmp:
        record = fetch_first(params["sources"], tmp, params["connect_timeout"])
        write_json(tmp / SOURCE_RECORD, record)
    print(f"download: {record['kind']} source {record['location']} ({record['format']}, "
          f"{record['bytes']:,} bytes) -> {args.out}/{record['file']}")


if __name__ == "__main__":
    main()
