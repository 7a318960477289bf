"""The near-duplicate search of a large folder: time and memory of `close_pairs`.

`keras-stability duplicates` embeds a folder and then searches every pair of
embeddings within the threshold (`keras_stability.evaluation.close_pairs`,
exact, block by block). This script times that search alone on `--images`
random unit-norm embeddings with `--planted` near-duplicate pairs (copies
moved by a small random step, well within the threshold), checks that every
planted pair is found, and records the peak of the memory NumPy allocates
during the search (`tracemalloc`), next to what one full distance matrix
would take. `tracemalloc` sees what Python and NumPy allocate, not FAISS's
own buffers, so with `--method faiss` the peak leaves those out.

    python benchmarks/pair_search.py                         # 100,000 images
    python benchmarks/pair_search.py --method faiss --json out.json
"""

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine  # noqa: E402
from _common import write_json  # noqa: E402


def planted_embeddings(count, dim, planted, step, seed=0):
    """Unit vectors; the last `planted` rows are moved copies of the first."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, dim))
    x[count - planted :] = x[:planted] + step * rng.normal(size=(planted, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype("float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--planted", type=int, default=1000)
    parser.add_argument("--threshold", type=float, default=0.15)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--method", default="numpy", choices=["numpy", "faiss"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not 1 <= args.planted <= args.images // 2:
        parser.error("--planted must be in [1, --images / 2]")
    from keras_stability import evaluation

    # A step of 0.01 per coordinate moves a 64-d copy by about 0.01 * 8 =
    # 0.08 before normalising: within the default threshold.
    x = planted_embeddings(args.images, args.dim, args.planted, step=0.01)
    tracemalloc.start()
    started = time.perf_counter()
    first, second, distances = evaluation.close_pairs(
        x, args.threshold, chunk_size=args.chunk_size, method=args.method
    )
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    offset = args.images - args.planted
    found = set(zip(first.tolist(), second.tolist(), strict=True))
    planted_found = sum((i, offset + i) in found for i in range(args.planted))
    result = {
        "machine": machine(),
        "images": args.images,
        "dim": args.dim,
        "method": args.method,
        "chunk_size": args.chunk_size,
        "threshold": args.threshold,
        "seconds": seconds,
        "pairs": int(distances.size),
        "planted": args.planted,
        "planted_found": planted_found,
        "peak_bytes": peak,
        "embedding_bytes": int(x.nbytes),
        "full_matrix_bytes": 4 * args.images**2,
    }
    print(
        f"{args.images} x {args.dim} embeddings, {args.method}, chunk "
        f"{args.chunk_size}: {seconds:.1f} s, {result['pairs']} pairs within "
        f"{args.threshold:g}, planted found {planted_found}/{args.planted}; "
        f"peak {peak / 2**20:.0f} MiB allocated during the search (one float32 "
        f"distance matrix: {result['full_matrix_bytes'] / 2**20:.0f} MiB)"
    )
    return write_json(result, args.json)


if __name__ == "__main__":
    main()
