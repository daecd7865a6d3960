"""
Dataset builders of mmembed: CMU-MOSEI from the CMU SDK `.csd` files (`mosei`, `csd`), the pre-training corpus and
the built-in demo corpora.
"""
