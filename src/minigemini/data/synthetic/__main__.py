"""`python -m minigemini.data.synthetic OUT_DIR`: generate a dataset and print its honesty check."""

from __future__ import annotations

import argparse
import time

from . import format_report, generate_dataset, honesty_check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=600)
    args = parser.parse_args()
    t0 = time.perf_counter()
    paths = generate_dataset(args.out_dir, seed=args.seed, n_train=args.n_train, n_test=args.n_test)
    t1 = time.perf_counter()
    print(f"wrote {args.n_train + args.n_test} images to {paths.root} in {t1 - t0:.1f} s")
    print(format_report(honesty_check(paths.root)))
    print(f"honesty check: {time.perf_counter() - t1:.1f} s")


if __name__ == "__main__":
    main()
