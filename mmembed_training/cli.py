"""
`train.py` and the `mmembed-train` console script: the default run with no arguments (or `demo ...`), else one stage.
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
