"""``python -m sb3_mixture.enjoy ...``: RL Zoo's ``enjoy`` with the package's algorithms registered explicitly."""


def main() -> None:
    from sb3_mixture.zoo import register

    register()
    from rl_zoo3.enjoy import enjoy

    enjoy()


if __name__ == "__main__":
    main()
