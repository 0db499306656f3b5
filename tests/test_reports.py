"""Every committed benchmark report regenerates, byte for byte with its figures, from its committed run files."""

import argparse
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from sb3_mixture.experiments import write_report
from sb3_mixture.experiments.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = sorted((ROOT / "benchmarks" / "results").rglob("*.md"))
REPORTS = [path for path in MARKDOWN if "python -m sb3_mixture.experiments report " in path.read_text()]
SWEEPS = [path for path in MARKDOWN if "python -m sb3_mixture.experiments sweep " in path.read_text()]


def report_command(report: Path) -> argparse.Namespace:
    """The ``report`` (or ``sweep``) command the file names under "Produced by", read by the command line's own parser."""
    line = next(
        line
        for line in report.read_text().splitlines()
        if re.search(r"python -m sb3_mixture\.experiments (report|sweep) ", line)
    )
    return build_parser().parse_args(shlex.split(line)[3:])


def assert_regenerates(committed: Path, tmp_path: Path, write: Callable[[Path], str]) -> None:
    """``write`` (the committed file's own command, writing to the path it is given) reproduces it and its figures."""
    options = report_command(committed)
    assert (ROOT / options.out) == committed
    regenerated = tmp_path / committed.name
    # Run from the repository root with the same relative paths, so that the command recorded in the report matches.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        markdown = write(regenerated)
    assert markdown.replace(str(regenerated), str(options.out)) == committed.read_text()
    for image in tmp_path.glob("*.png"):
        assert image.read_bytes() == (committed.parent / image.name).read_bytes(), image.name


def test_there_are_reports() -> None:
    assert len(REPORTS) >= 3


@pytest.mark.parametrize("report", REPORTS, ids=[path.name for path in REPORTS])
def test_committed_report_regenerates_identically(report: Path, tmp_path: Path) -> None:
    options = report_command(report)
    runs = ROOT / options.runs
    assert runs.is_dir() and any(runs.rglob("*.json")), f"{report.name}: no run files under {options.runs}"
    assert_regenerates(
        report,
        tmp_path,
        lambda out: write_report(options.runs, out, options.reps, tuple(options.reference), options.title, options.note),
    )


@pytest.mark.parametrize("report", REPORTS + SWEEPS, ids=[path.name for path in REPORTS + SWEEPS])
def test_the_recorded_run_commands_name_every_arm(report: Path) -> None:
    """Each "Produced by" run line, pasted into a shell, trains arms that together cover every algorithm of the runs."""
    from sb3_mixture.experiments.results import load_results, run_name

    lines = [line for line in report.read_text().splitlines() if "python -m sb3_mixture.experiments run " in line]
    named = {arm for line in lines for arm in build_parser().parse_args(shlex.split(line)[3:]).algos}
    # A relabelled run (moved under an arm's name when its key's default changed) was trained by its bare key.
    results = load_results(ROOT / report_command(report).runs)
    runs = {result["algo"] if "relabelled" in result else run_name(result) for result in results}
    assert runs <= named, f"{report.name}: no recorded command trains {sorted(runs - named)}"


@pytest.mark.parametrize("sweep", SWEEPS, ids=[path.name for path in SWEEPS])
def test_committed_sweep_regenerates_identically(sweep: Path, tmp_path: Path) -> None:
    from sb3_mixture.experiments.auc import write_sweep_report

    options = report_command(sweep)
    assert_regenerates(sweep, tmp_path, lambda out: write_sweep_report(options.runs, out, options.title))


def test_readme_results_table_is_the_summary_of_the_committed_runs() -> None:
    """The README's results table is regenerated from the committed run files; stale numbers fail here."""
    from scripts.readme_results import README, regenerate_table, results_block

    command, table = results_block(README.read_text())
    regenerated = regenerate_table(command)
    assert regenerated.count("\n") > 2, "the summary found no runs"
    assert table == regenerated, "README.md's results table is stale: run `python scripts/readme_results.py`"


def test_summary_table_rows(tmp_path: Path) -> None:
    """IQM over 4 runs is the mean of the middle two; P(> reference) counts the pairs (ties count half); the success
    column is the mean final success rate, "-" unless every run records one."""
    from sb3_mixture.experiments.report import summary_table

    finals = {"sac": [0.0, 1.0, 2.0, 3.0], "sac_mrp": [1.0, 2.0, 3.0, 10.0], "tqc": [100.0, 200.0, 300.0, 1000.0]}
    for algo, returns in finals.items():
        for seed, final in enumerate(returns):
            run = {"env_id": "E-v0", "variant": "default", "budget": 100, "algo": algo, "seed": seed}
            run |= {"final_return": final, "env_steps_per_second": 50.0 + seed}
            if algo == "sac_mrp":
                run["final_success_rate"] = [0.5, 1.0, 1.0, 0.7][seed]
            if algo == "tqc" and seed > 0:  # one run without: the column would average 3 of the 4
                run["final_success_rate"] = 1.0
            (tmp_path / f"{algo}_{seed}.json").write_text(json.dumps(run))
    rows = summary_table([(tmp_path, "sac")], reps=200).splitlines()
    assert rows[0].split(" | ")[5] == "final success"
    # IQM of 0, 1, 2, 3 = 1.5 and of 1, 2, 3, 10 = 2.5: three significant digits below 100
    assert rows[2].startswith("| E-v0 | 100 | sac | 4 | 1.5 [") and rows[2].endswith("| - | - | 52 |")
    # P(mrp > sac) over 16 pairs: 1 beats 0, ties 1 (0.5), ...; mean success (0.5 + 1 + 1 + 0.7) / 4 = 0.80
    wins = sum((m > s) + 0.5 * (m == s) for m in [1.0, 2.0, 3.0, 10.0] for s in [0.0, 1.0, 2.0, 3.0]) / 16
    assert rows[3].startswith("| E-v0 | 100 | sac_mrp | 4 | 2.5 [") and f"| 0.80 | {wins:.2f} [" in rows[3]
    # IQM of 100, 200, 300, 1000 = 250: whole numbers from 100 up
    assert rows[4].startswith("| E-v0 | 100 | tqc | 4 | 250 [") and rows[4].split(" | ")[5] == "-"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("sac", "sac"),
        ("sac_pmoe[compile=True]", "sac_pmoe (compiled)"),
        ("crossq[policy_kwargs=dict(net_arch=dict(pi=[256, 256], qf=[256, 256]))]", "crossq (256-wide)"),
        (
            "crossq_mrp[compile=True,policy_kwargs=dict(net_arch=[256, 256], n_components=5)]",
            "crossq_mrp (compiled, 256-wide, K=5)",
        ),
        ("x[policy_kwargs=dict(net_arch=dict(pi=[64], qf=[256, 256]))]", "x (net_arch={'pi': [64], 'qf': [256, 256]})"),
        ("ppo_pmoe[gate_gradient=routing_only]", "ppo_pmoe (gate_gradient=routing_only)"),
    ],
)
def test_summary_tables_name_an_arm_by_its_key_and_what_differs(name: str, label: str) -> None:
    from sb3_mixture.experiments.report import short_label

    assert short_label(name) == label
