"""Quiets TensorFlow's start-up log under the `keras-stability` command.

Importing TensorFlow prints its C++ start-up log (oneDNN, CUDA drivers,
CPU instructions, and "failed call to cuInit" on a machine without a GPU)
straight to the process's standard error, before Python's logging can
filter it. Under the command, and only where the user has not set
`TF_CPP_MIN_LOG_LEVEL` themselves, `quiet_start` sets it to 3 and holds
the log back while Keras (and with it TensorFlow) is imported; an import
that fails prints what was held back. In a user's own program it does
nothing.

Internal: imported first by `keras_stability/__init__.py`, so it imports
nothing of the library and nothing heavy.
"""

import contextlib
import os
import sys
import tempfile

COMMAND = "keras-stability"


def is_command_line():
    """Whether this process is the `keras-stability` console script."""
    return bool(sys.argv) and os.path.basename(sys.argv[0]) == COMMAND


@contextlib.contextmanager
def quiet_start():
    """While open, TensorFlow's start-up log is held back (see the module)."""
    if not is_command_line() or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        yield
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr is not a file
        yield
        return
    sys.stderr.flush()
    saved = os.dup(descriptor)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), descriptor)
        try:
            yield
        except BaseException:
            os.dup2(saved, descriptor)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, descriptor)
            os.close(saved)
