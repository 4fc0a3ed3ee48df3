"""Start-up benchmark: how long a fresh `parcours` process takes before it does any work.

Times, each as a new process (median and max of `--runs`):
- `parcours --help` (target: under 0.3 s);
- `import parcours.faces.cli`;
- `parcours attribute --paths` on a four-path file, with markov and with linear;
- with --path-file, the same on that file (ChannelAttribution's 10,000-path sample, Data.csv,
  is `python/src/cypack/data/Data.csv` in its repository: --delimiter ';' --nulls-column
  total_null --value-column total_conversion_value), every model that takes a path file.

Targets (issue 30): a path model on Data.csv under 0.35 s as a whole process. What a command
imports is the floor: Typer (with pydantic), NumPy and Arrow (which loads pandas at its first
conversion of a Python value); a rule model also loads Ibis and DuckDB to run its expression.

    .venv/bin/python benchmarks/startup.py [--runs 9] [--path-file Data.csv --delimiter ';' ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PATHS = "path,total_conversions,total_null\nemail > search,30,70\nsearch,20,80\ndisplay > search > email,10,40\n"


def timed(cmd: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--path-file", type=Path)
    ap.add_argument("--delimiter", default=",")
    ap.add_argument("--conversions-column", default="total_conversions")
    ap.add_argument("--nulls-column", default="total_null")
    ap.add_argument("--value-column")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = Path(tmp) / "paths.csv"
        paths.write_text(PATHS)
        cli = [sys.executable, "-m", "parcours.faces.cli"]
        attribute = [*cli, "attribute", "--paths", str(paths), "--nulls-column", "total_null", "--model"]
        cases = {
            "parcours --help": [*cli, "--help"],
            "import parcours.faces.cli": [sys.executable, "-c", "import parcours.faces.cli"],
            "attribute --paths (markov)": [*attribute, "markov"],
            "attribute --paths (linear)": [*attribute, "linear"],
        }
        if args.path_file:
            on_file = [*cli, "attribute", "--paths", str(args.path_file), "--delimiter", args.delimiter,
                       "--conversions-column", args.conversions_column, "--nulls-column", args.nulls_column,
                       *(["--value-column", args.value_column] if args.value_column else []), "--model"]
            for model in ("markov", "shapley", "ordered_shapley", "shapley_rate", "linear", "last_touch"):
                cases[f"{args.path_file.name} ({model})"] = [*on_file, model]
        print(f"{'command':<34}{'median s':>10}{'max s':>8}   ({args.runs} runs each)")
        for name, cmd in cases.items():
            median, worst = timed(cmd, args.runs)
            print(f"{name:<34}{median:>10.3f}{worst:>8.3f}")


if __name__ == "__main__":
    main()
