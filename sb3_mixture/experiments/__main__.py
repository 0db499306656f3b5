"""
Command line of the benchmark runner.

    # 2 algorithms x 2 envs x 5 seeds, 20k steps each, 2 worker processes, results under my_runs
    python -m sb3_mixture.experiments run --algos sac sac_mrp --envs sb3_mixture/SparsePendulum-v1 Pendulum-v1 \\
        --seeds 0 1 2 3 4 --budgets 20000 --eval-freq 2000 --workers 2 --out my_runs
    # a fixed entropy coefficient and one YAML entry replaced for every run (the variant names both)
    python -m sb3_mixture.experiments run --algos sac sac_mrp --envs sb3_mixture/MountainCar-v1 --budgets 8000 \\
        --ent-coefs 0.1 --hyperparams learning_rate:1e-3 --out my_runs
    # one table over several grids, each compared with its own baseline (the README's results table)
    python -m sb3_mixture.experiments summary --runs my_sac_runs sac --runs my_ppo_runs ppo
    # the same grid on a Ray cluster (pip install ".[ray]"): each run a task, retried on another node if its node dies
    python -m sb3_mixture.experiments run --algos sac sac_mrp --envs Pendulum-v1 --budgets 20000 --ray auto --out my_runs
    # goal tasks of Gymnasium-Robotics: import the package that registers them, as under RL Zoo
    python -m sb3_mixture.experiments run --algos tqc tqc_mrp --envs PointMaze_UMaze-v3 --gym-packages gymnasium_robotics \\
        --budgets 100000 --eval-freq 5000 --out my_runs
    # the rliable report (to split a grid over two machines sharing the folder: --shard 0/2 on one, 1/2 on the other)
    python -m sb3_mixture.experiments report --runs my_runs --out my_runs/report.md

Interrupt and re-run the same command to resume: finished runs (their result files) are skipped.
"""

import argparse
from pathlib import Path

from sb3_mixture.experiments.auc import write_sweep_report
from sb3_mixture.experiments.report import REFERENCE, summary_table, write_report
from sb3_mixture.experiments.runner import run_grid
from sb3_mixture.experiments.specs import grid, parse_arm


def _shard(text: str) -> tuple[int, int]:
    index, count = (int(part) for part in text.split("/"))
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard must be i/n with 0 <= i < n, got {text!r}")
    return index, count


def _override(text: str) -> tuple[str, str]:
    name, separator, value = text.partition(":")
    if not separator or not name or not value:
        raise argparse.ArgumentTypeError(f"--hyperparams takes NAME:VALUE pairs, got {text!r}")
    if name in ("ent_coef", "n_timesteps"):
        raise argparse.ArgumentTypeError(f"--hyperparams: set {name} with --ent-coefs / --budgets, not here")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (also what reads the commands that committed reports record)."""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_mixture.experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train the grid (skips finished runs)")
    run.add_argument(
        "--algos",
        nargs="+",
        required=True,
        help="RL Zoo keys (sac, td3, ppo and the package's), or arms: key[name=value,...] with hyperparameters of its own",
    )
    run.add_argument("--envs", nargs="+", required=True, help="Gymnasium ids")
    run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    run.add_argument("--budgets", nargs="+", type=int, required=True, help="environment steps per run")
    run.add_argument(
        "--ent-coefs", nargs="+", type=float, default=None, help="fixed entropy coefficients (an axis of the grid)"
    )
    run.add_argument(
        "--hyperparams",
        nargs="+",
        type=_override,
        default=[],
        metavar="NAME:VALUE",
        help="replace a YAML hyperparameter for every run, as RL Zoo's -params (e.g. learning_rate:1e-3)",
    )
    run.add_argument(
        "--conf-dir",
        default=None,
        help="a folder of RL Zoo files, <key>.yml, to read instead of the package's and RL Zoo's (another hyperparameter "
        "set, e.g. sb3_mixture/hyperparams/pmoe_paper)",
    )
    run.add_argument(
        "--gym-packages",
        nargs="+",
        default=[],
        help="modules to import before making the envs, as RL Zoo's --gym-packages (e.g. gymnasium_robotics for "
        "PointMaze and Fetch); DeepMind Control's ids need none",
    )
    run.add_argument("--eval-freq", type=int, default=1000)
    run.add_argument("--eval-episodes", type=int, default=10)
    run.add_argument("--workers", type=int, default=2)
    run.add_argument("--shard", type=_shard, default=(0, 1), help="i/n: run every n-th run of the grid, from the i-th")
    run.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="run on the Ray cluster at ADDRESS (auto, host:port, ray://host:port; local: a new one on this machine), one "
        "task per run, instead of --workers processes",
    )
    run.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs each run reserves (it trains on one torch thread)")
    run.add_argument("--ray-gpus", type=float, default=0.0, help="GPUs each run asks of Ray (fractions share one)")
    run.add_argument("--ray-max-retries", type=int, default=3, help="restarts of a run whose node or worker process died")
    run.add_argument("--out", type=Path, default=Path("benchmarks/results/runs"))
    report = commands.add_parser("report", help="aggregate the result files with rliable")
    report.add_argument("--runs", type=Path, default=Path("benchmarks/results/runs"))
    report.add_argument("--out", type=Path, default=Path("benchmarks/results/report.md"))
    report.add_argument(
        "--reference", nargs="+", default=[REFERENCE], help="the baseline arm; several: each task uses the first it has"
    )
    report.add_argument("--reps", type=int, default=2000, help="bootstrap samples")
    report.add_argument("--title", default="Benchmark")
    report.add_argument("--note", default="", help="a paragraph under the title (what the grid left out and why, say)")
    sweep = commands.add_parser("sweep", help="areas per setting of a hyperparameter sweep, the best per algorithm")
    sweep.add_argument("--runs", type=Path, required=True)
    sweep.add_argument("--out", type=Path, required=True)
    sweep.add_argument("--title", default="Hyperparameter sweep")
    summary = commands.add_parser("summary", help="one Markdown table of final IQMs over several grids")
    summary.add_argument(
        "--runs",
        nargs=2,
        action="append",
        required=True,
        metavar=("RUNS", "REFERENCE"),
        help="a run folder and the algorithm P(improvement) compares with; repeat for more grids",
    )
    summary.add_argument("--reps", type=int, default=2000, help="bootstrap samples")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from sb3_mixture.experiments.building import algorithm_classes

        known = set(algorithm_classes())
        try:
            keys = [parse_arm(algo)[0] for algo in args.algos]
        except ValueError as error:
            parser.error(f"--algos: {error}")
        unknown = [algo for algo in keys if algo not in known]
        if unknown:
            parser.error(f"--algos: unknown {unknown}; allowed: {sorted(known)}")
        specs = grid(
            args.algos,
            args.envs,
            args.seeds,
            args.budgets,
            args.ent_coefs or [None],
            dict(args.hyperparams),
            args.conf_dir,
            args.gym_packages,
        )
        if args.ray is None:
            executed = run_grid(specs, args.out, args.eval_freq, args.eval_episodes, args.workers, args.shard)
            print(f"{len(executed)} runs executed, {len(specs) - len(executed)} skipped or in other shards")
            return
        from sb3_mixture.experiments.ray_executor import RayResources, run_grid_on_ray

        resources = RayResources(args.ray_cpus, args.ray_gpus, args.ray_max_retries)
        try:
            states = run_grid_on_ray(specs, args.out, args.eval_freq, args.eval_episodes, args.ray, resources, args.shard)
        except KeyboardInterrupt:
            raise SystemExit("cancelled: the runs' checkpoints are kept; the same command resumes them") from None
        failed = [state for state in states if state.outcome != "done"]
        if failed:
            raise SystemExit(f"{len(failed)} of {len(states)} runs failed (tracebacks above)")
    elif args.command == "sweep":
        write_sweep_report(args.runs, args.out, args.title)
        print(f"sweep report written to {args.out}")
    elif args.command == "summary":
        print(summary_table([(Path(root), reference) for root, reference in args.runs], args.reps), end="")
    else:
        write_report(args.runs, args.out, args.reps, tuple(args.reference), args.title, args.note)
        print(f"report written to {args.out}")


if __name__ == "__main__":
    main()
