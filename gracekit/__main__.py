"""Command line: `python -m gracekit doctor` (and `gracekit doctor` once installed)."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gracekit", description="gracekit command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check this machine before a tutorial")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from .doctor import main as doctor

        return doctor()
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
