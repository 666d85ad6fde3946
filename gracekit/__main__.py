"""Command line: `python -m gracekit doctor` and `python -m gracekit report ...` (and `gracekit ...`
once installed)."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gracekit", description="gracekit command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check this machine before a tutorial")
    sub.add_parser("report", add_help=False,
                   help="regression report of a model update (gracekit report --help)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "report":
        from gracekit.report.cli import main as report

        return report(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "doctor":
        from gracekit.doctor import main as doctor

        return doctor()
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
