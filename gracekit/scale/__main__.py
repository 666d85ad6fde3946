"""``python -m gracekit.scale pct ...`` (also under torchrun): see ``gracekit.scale.cli``."""
import sys

from gracekit.scale.cli import main

if __name__ == "__main__":
    sys.exit(main())
