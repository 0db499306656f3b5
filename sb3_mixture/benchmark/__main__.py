"""``python -m sb3_mixture.benchmark``: the former name of ``python -m sb3_mixture.experiments``."""

from sb3_mixture.experiments.__main__ import main

if __name__ == "__main__":
    main()
