"""Command line: `python -m gracekit doctor|report|gate|compat ...` (and `gracekit ...` once installed)."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gracekit", description="gracekit command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check this machine before a tutorial")
    sub.add_parser("report", add_help=False,
                   help="regression report of a model update (gracekit report --help)")
    sub.add_parser("gate", add_help=False,
                   help="regression gate for CI: exit 1 when an update regresses beyond its budget "
                        "(gracekit gate --help)")
    sub.add_parser("compat", add_help=False,
                   help="can a new embedding model search the old index? (gracekit compat --help)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "report":
        from gracekit.report.cli import main as report

        return report(rest)
    if args.command == "gate":
        from gracekit.report.gate_cli import main as gate

        return gate(rest)
    if args.command == "compat":
        from gracekit.report.compat_cli import main as compat

        return compat(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "doctor":
        from gracekit.doctor import main as doctor

        return doctor()
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
