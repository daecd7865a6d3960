"""
`train.py` and the `mmembed-train` console script: the default run with no arguments (or `demo ...`), else one stage.
`main` is the Python entry (errors raise); `console` the command line's (a mistake prints its message and exits 2,
`--debug` shows the traceback).
"""

import logging
import sys

from transformers import HfArgumentParser, set_seed

from .arguments import parse_arguments
from .demo import DemoArguments, run_demo
from .run import evaluate_stage, train_stage


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not argv or argv[0] == "demo":
        parser = HfArgumentParser(DemoArguments, prog="train.py demo", description=DemoArguments.__doc__)
        (demo,) = parser.parse_args_into_dataclasses(args=argv[1:])
        return run_demo(demo)
    run, training = parse_arguments(argv)
    set_seed(training.seed)
    if run.stage == "evaluate":
        return evaluate_stage(run, training)
    return train_stage(run, training)


USER_ERRORS = (ValueError, FileNotFoundError)
"""What the package raises for a user's mistake (a wrong flag value, missing or bad data): a message, not a bug."""


def console(argv: list[str] | None = None) -> int:
    """
    `main` for the command line: a user's mistake (`USER_ERRORS`) prints `train.py: error: <message>` and returns 2,
    as argparse does for a bad flag, instead of a traceback; `--debug` (anywhere) keeps the traceback.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [argument for argument in argv if argument != "--debug"]
    try:
        main(argv)
    except USER_ERRORS as error:
        if debug:
            raise
        print(f"train.py: error: {error}\n(run with --debug for the traceback)", file=sys.stderr)
        return 2
    finally:
        end_process_group()
    return 0


def end_process_group() -> None:
    """
    Destroy the process group of a run with several processes before the interpreter exits, as PyTorch asks: left to
    exit, a process's gloo threads were destroyed while running and the process aborted ("terminate called without
    an active exception", exit -6) after a complete run.
    """
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
