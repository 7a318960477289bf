"""`keras-stability`: the command line.

keras-stability --version
keras-stability demo [--output DIR] [--quick] [--epochs N] [--seeds N]
    [--dataset photographs|digits|DIR]
keras-stability evaluate MODEL --data DIR [--value-range LOW HIGH] [--suggest]
    [--distortions FAMILY ...] [--output DIR] [--unsafe]
keras-stability duplicates DIR --model MODEL (--threshold T | --precision P)
    [--output-layer NAME] [--calibration DIR] [--output OUT] [--image-size H W]
    [--value-range LOW HIGH] [--method numpy|faiss] [--unsafe]

One module a part: `parser` (the arguments), `models` (loading the model a
command runs, `CommandError`), `commands` (what each command does). The
package `keras_stability` (Keras, and TensorFlow with it) loads before
`main` runs, with TensorFlow's start-up log held back (`_quiet_start`)
unless `TF_CPP_MIN_LOG_LEVEL` is set.
"""

import sys

from keras_stability.cli import commands
from keras_stability.cli.models import CommandError
from keras_stability.cli.parser import build_parser

__all__ = ["main"]


def main(argv=None):
    """Entry point of the `keras-stability` console script."""
    args = build_parser().parse_args(argv)
    try:
        getattr(commands, args.command)(args)
    except CommandError as error:
        print(f"keras-stability {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
