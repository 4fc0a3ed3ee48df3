"""Start-up benchmark: how long a fresh `parcours` process takes before it does any work.

Times, each as a new process (median and max of `--runs`):
- `parcours --help` (target: under 0.3 s);
- `import parcours.faces.cli`;
- `parcours attribute --paths` on a four-path file, with markov and with linear;
- with --path-file, the same on that file (ChannelAttribution's 10,000-path sample, Data.csv,
  is `python/src/cypack/data/Data.csv` in its repository: --delimiter ';' --nulls-column
  total_null --value-column total_conversion_value), every model that takes a path file.

- with --channelattribution PYTHON (a Python with ChannelAttribution installed, as
  benchmarks/attribution.py installs it in bench-env/), its `markov_model` and
  `heuristic_models` on the same file, each a script that reads it with pandas: a peer's whole
  process beside ours.

Every case runs once per round, rounds repeated --runs times (the machine's speed drifts:
alternating keeps the comparison fair). Targets (issue 30): a path file's attribution as a
whole process under 0.35 s, ahead of ChannelAttribution. What a command imports is the
floor: Typer (with pydantic), NumPy and Arrow (which loads pandas at its first conversion of
a Python value): 0.47-0.58 s on the 2-core machine of the issue's note.

    .venv/bin/python benchmarks/startup.py [--runs 9] [--path-file Data.csv --delimiter ';'
        --value-column total_conversion_value [--channelattribution bench-env/bin/python]]
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
# ChannelAttribution's models on a path file, as its documentation calls them
PEER = """
import sys, pandas as pd, ChannelAttribution as ca
file, delimiter, conversions, nulls, value, model = sys.argv[1:7]
df = pd.read_csv(file, sep=delimiter)
value = value or None
if model == "markov_model":
    print(ca.markov_model(df, "path", conversions, var_value=value, var_null=nulls, verbose=False, flg_pro=False))
else:
    print(ca.heuristic_models(df, "path", conversions, var_value=value, flg_pro=False))
"""


def timed(cases: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]]:
    """(median, max) seconds of each command, every one run once per round."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, cmd in cases.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), max(t)) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--path-file", type=Path)
    ap.add_argument("--delimiter", default=",")
    ap.add_argument("--conversions-column", default="total_conversions")
    ap.add_argument("--nulls-column", default="total_null")
    ap.add_argument("--value-column")
    ap.add_argument("--channelattribution", type=Path, help="a Python with ChannelAttribution installed")
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
            if args.channelattribution:
                peer = [str(args.channelattribution), "-c", PEER, str(args.path_file), args.delimiter,
                        args.conversions_column, args.nulls_column, args.value_column or ""]
                for model in ("markov_model", "heuristic_models"):
                    cases[f"ChannelAttribution {model}"] = [*peer, model]
        print(f"{'command':<34}{'median s':>10}{'max s':>8}   ({args.runs} rounds)")
        for name, (median, worst) in timed(cases, args.runs).items():
            print(f"{name:<34}{median:>10.3f}{worst:>8.3f}")


if __name__ == "__main__":
    main()
