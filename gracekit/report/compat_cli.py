"""`gracekit compat`: can a new embedding model's queries search the old model's index?
Exit 0 compatible (or undecided within noise), 1 not compatible, 2 bad input."""
import argparse
import sys

from gracekit.report.cli import os_message

from gracekit.report.compat import METRICS, check_compat
from gracekit.report.gate_cli import add_output_options, emit
from gracekit.report.gate_io import load_embeddings, load_ids

__all__ = ["main"]

EXAMPLES = """examples:
  gracekit compat --old-gallery g_old.npy --new-query q_new.npy --old-query q_old.npy \\
      --gallery-ids g_ids.csv --query-ids q_ids.csv
  gracekit compat --old-gallery old.npy --new-query new.npy --new-gallery new.npy \\
      --gallery-ids ids.npy --query-ids ids.npy       (one set: leave-one-out, with backfill curve)

Embeddings are .npy float arrays, one row per item; ids are a 1-D .npy or a one-column CSV with a
header. When the query ids equal the gallery ids (same list, same order) the queries are the gallery
items and each searches all the others (leave-one-out). Exit status: 0 compatible or undecided
within noise, 1 not compatible, 2 bad input. See docs/gate.md."""


def _parser():
    p = argparse.ArgumentParser(prog="gracekit compat", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Can new queries search the old index? Cross-model retrieval table, "
                                            "BCT's criterion with a clustered standard error, update gain and "
                                            "partial-backfill curve.")
    p.add_argument("--old-gallery", required=True, metavar="NPY", help="the index built by the old model")
    p.add_argument("--new-query", required=True, metavar="NPY", help="the queries embedded by the new model")
    p.add_argument("--gallery-ids", required=True, metavar="FILE", help="identity of each gallery row")
    p.add_argument("--query-ids", required=True, metavar="FILE", help="identity of each query row")
    p.add_argument("--old-query", metavar="NPY", help="the same queries embedded by the old model "
                                                      "(needed unless the queries are the gallery items)")
    p.add_argument("--new-gallery", metavar="NPY", help="the gallery embedded by the new model "
                                                        "(adds new/new, update gain and the backfill curve)")
    p.add_argument("--metric", choices=METRICS, default="top1", help="metric of the decision (default top1)")
    p.add_argument("--protocol", choices=("auto", "loo", "split"), default="auto",
                   help="loo: queries are the gallery items; auto (default): loo when the id lists are identical")
    p.add_argument("--project", action="store_true",
                   help="truncate or zero-pad new embeddings to the old width when the widths differ")
    p.add_argument("--tolerance", type=float, default=0.0,
                   help="allowed drop of M(new, old) below M(old, old) (default 0)")
    p.add_argument("--backfill-tolerance", type=float, default=0.01,
                   help="the backfill curve reaches new/new within this much top-1 (default 0.01)")
    p.add_argument("--orders", type=int, default=5, help="random backfill orders averaged (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random backfill orders")
    add_output_options(p)
    return p


def main(argv=None):
    """`gracekit compat ...`: exit 0 compatible or undecided, 1 not compatible, 2 bad input."""
    p = _parser()
    args = p.parse_args(argv)
    if not 0 <= args.tolerance < 1:
        p.error(f"--tolerance must be in [0, 1), got {args.tolerance}")
    if not 0 <= args.backfill_tolerance < 1:
        p.error(f"--backfill-tolerance must be in [0, 1), got {args.backfill_tolerance}")
    if args.orders < 1:
        p.error(f"--orders must be >= 1, got {args.orders}")
    try:
        go = load_embeddings(args.old_gallery, "--old-gallery")
        qn = load_embeddings(args.new_query, "--new-query")
        qo = None if args.old_query is None else load_embeddings(args.old_query, "--old-query")
        gn = None if args.new_gallery is None else load_embeddings(args.new_gallery, "--new-gallery")
        yg, yq = load_ids(args.gallery_ids, "--gallery-ids"), load_ids(args.query_ids, "--query-ids")
        for emb, ids, e_arg, i_arg in ((go, yg, args.old_gallery, args.gallery_ids),
                                       (gn, yg, args.new_gallery, args.gallery_ids),
                                       (qn, yq, args.new_query, args.query_ids),
                                       (qo, yq, args.old_query, args.query_ids)):
            if emb is not None and len(emb) != len(ids):
                raise ValueError(f"{e_arg} has {len(emb)} rows but {i_arg} lists {len(ids)} identities "
                                 f"(a CSV of ids needs a header row)")
        result = check_compat(go, qn, yg, yq, old_query=qo, new_gallery=gn, metric=args.metric,
                              protocol=args.protocol, project_dims=args.project, confidence=args.confidence,
                              tolerance=args.tolerance, strict=args.strict,
                              backfill_tolerance=args.backfill_tolerance, n_orders=args.orders, seed=args.seed)
        emit("gracekit compat", result, args)
    except (OSError, ValueError) as err:  # every bad path or file: one line naming it, exit code 2
        msg = os_message(err) if isinstance(err, OSError) else str(err)
        print(f"gracekit compat: error: {msg}", file=sys.stderr)
        return 2
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
