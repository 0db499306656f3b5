"""Train SACMixture (MRP estimator, 5 components) and report its deterministic evaluation return.

python examples/quickstart.py                       # Pendulum-v1, 20k steps
python examples/quickstart.py --env MountainCarContinuous-v0 --timesteps 50000 --n-components 3
"""

import argparse

import gymnasium as gym
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_mixture import SACMixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1", help="Gymnasium environment id (continuous actions)")
    parser.add_argument("--timesteps", type=int, default=20_000, help="environment steps to train for")
    parser.add_argument("--n-components", type=int, default=5, help="number of mixture components K")
    parser.add_argument("--estimator", default="mrp", help="actor-gradient estimator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default="sac_mixture_model", help="where to save the trained model (.zip)")
    args = parser.parse_args()

    model = SACMixture(
        "MlpPolicy",
        args.env,
        estimator=args.estimator,
        learning_rate=1e-3,  # RL Zoo's SAC setting for Pendulum-v1
        policy_kwargs=dict(n_components=args.n_components),
        seed=args.seed,
        verbose=1,
    )
    model.learn(total_timesteps=args.timesteps, log_interval=10, progress_bar=True)
    model.save(args.save)

    eval_env = Monitor(gym.make(args.env))
    eval_env.reset(seed=args.seed + 10_000)  # seeded start states: the same command prints the same return
    mean_return, std_return = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    print(
        f"{args.env}: deterministic return {mean_return:.1f} +/- {std_return:.1f} over 10 episodes; "
        f"model saved to {args.save}.zip"
    )


if __name__ == "__main__":
    main()
