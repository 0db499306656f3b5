"""Print (and write as JSON) each RL Zoo key's policy state-dict hash after a seeded 200-step Pendulum-v1 run: a change
that should not alter training (a refactor) must leave every hash as it was, eager and compiled.

    python scripts/policy_hashes.py before.json              # eager
    python scripts/policy_hashes.py before.json --compile    # compile=True
"""

import argparse
import hashlib
import json
from typing import Any

import torch as th

from sb3_mixture.zoo import zoo_entries


def policy_hash(model: Any) -> str:
    """SHA-256 of the policy's parameters and buffers, by name, as bytes."""
    digest = hashlib.sha256()
    for name, value in sorted(model.policy.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="JSON file of key -> hash")
    parser.add_argument("--compile", action="store_true", help="train with compile=True")
    args = parser.parse_args()
    th.set_num_threads(1)
    hashes: dict[str, str] = {}
    for key, entry in zoo_entries().items():
        kwargs: dict[str, Any] = {"compile": args.compile, "policy_kwargs": dict(net_arch=[32, 32])}
        if entry.estimator is not None:
            kwargs["estimator"] = entry.estimator
        if entry.on_policy:
            kwargs.update(n_steps=64, batch_size=32, n_epochs=2)
        else:
            kwargs.update(learning_starts=50, batch_size=32, buffer_size=1_000)
        model = entry.algorithm("MlpPolicy", "Pendulum-v1", seed=0, **kwargs)
        model.learn(200)
        hashes[key] = policy_hash(model)
        print(key, hashes[key], flush=True)
    with open(args.out, "w") as file:
        json.dump(hashes, file, indent=1)


if __name__ == "__main__":
    main()
