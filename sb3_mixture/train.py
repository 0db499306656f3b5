"""``python -m sb3_mixture.train ...``: RL Zoo's ``train`` with the package's algorithms registered explicitly.

The same arguments as ``python -m rl_zoo3.train``; use it where the start-up hook is disabled
(``SB3_MIXTURE_NO_ZOO_HOOK=1``) or was not installed.
"""


def main() -> None:
    from sb3_mixture.zoo import register

    register()
    from rl_zoo3.train import train

    train()


if __name__ == "__main__":
    main()
