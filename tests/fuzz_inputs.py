"""
Fuzzing of every reader of untrusted input, run as a child process by `tests/test_fuzz.py` (so that a crash or a
memory peak is observed from outside):

    python -m tests.fuzz_inputs TARGET --examples N --seed S --work DIR

TARGET is `pickle` (mutated MMSA and MulT feature pickles through `load_mosei_pickle`), `csd` (mutated `.csd` files
through `load_mosei`'s reader), `audio` (mutated WAV and FLAC files through `load_audio_file` with the serving
limits) or `request` (mutated and random endpoint requests through `EndpointHandler`). Each example must end in a
result or in a `ValueError` (every refusal of the package is one); any other exception fails the run, which prints
the smallest failing example hypothesis found. On success it prints one JSON line: the target, how many examples
gave a result and how many were refused, the most memory one example allocated (`tracemalloc`, which numpy's
buffers report to) with that example's size, and the process's peak resident memory.
"""

import argparse
import base64
import io
import json
import resource
import sys
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from .mosei_pickle_fixture import write_mmsa, write_mult

MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**31), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 2**31), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 2**31), st.integers(0, 255)),
    st.tuples(st.just("wide"), st.integers(0, 2**31), st.sampled_from([0, 0xFF, 0x7F, 0x80])),
)
"""One change to a file's bytes: a byte set, the file cut, a byte inserted, or 8 bytes set (a length field)."""


def mutated(data: bytes, mutations) -> bytes:
    data = bytearray(data)
    for kind, position, value in mutations:
        if not data:
            break
        position %= len(data)
        if kind == "flip":
            data[position] = value
        elif kind == "cut":
            del data[max(position, 1) :]
        elif kind == "insert":
            data.insert(position, value)
        else:
            data[position : position + 8] = bytes([value]) * 8
    return bytes(data)


def pickle_seeds(work: Path) -> list[bytes]:
    return [
        write_mmsa(work / "mmsa.pkl").read_bytes(),
        write_mmsa(work / "aligned.pkl", aligned=True, protocol=5).read_bytes(),
        write_mult(work / "mult.pkl").read_bytes(),
    ]


def run_pickle(data: bytes, work: Path) -> None:
    from data_scripts.mosei_pickle import load_mosei_pickle

    path = work / "fuzzed.pkl"
    path.write_bytes(data)
    load_mosei_pickle(path, cache_dir=work / "cache")


def csd_seeds(work: Path) -> list[bytes]:
    from data_scripts.csd import regular_intervals, write_csd

    rng = np.random.default_rng(0)
    streams = {f"vid{index}": (rng.standard_normal((6, 5)), regular_intervals(6, 0.5)) for index in range(3)}
    words = {"vid0": (np.array([[b"hello"], [b"sp"]], dtype="S8"), regular_intervals(2, 0.5))}
    seeds = []
    for name, data, compression in (("features", streams, "gzip"), ("words", words, None)):
        write_csd(work / f"{name}.csd", name, data, compression=compression)
        seeds.append((work / f"{name}.csd").read_bytes())
    return seeds


def run_csd(data: bytes, work: Path) -> None:
    from data_scripts.csd import read_csd
    from data_scripts.mosei_segments import clean_stream

    path = work / "fuzzed.csd"
    path.write_bytes(data)
    with read_csd(path) as sequence:
        width = sequence.feature_size()
        for video_id in sequence.video_ids():
            features, _ = sequence[video_id]
            role = "words" if sequence.name == "words" else "audio"
            clean_stream(str(path), video_id, role, features, width, Counter())


def audio_seeds(work: Path) -> list[bytes]:
    import soundfile

    seeds = []
    samples = (0.3 * np.sin(np.arange(8000) / 7)).astype(np.float32)
    for file_format, subtype in (("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("WAV", "FLOAT")):
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, 16000, format=file_format, subtype=subtype)
        seeds.append(buffer.getvalue())
    return seeds


def run_audio(data: bytes, work: Path) -> None:
    from modeling_mmembed.audio_mmembed import load_audio_file
    from modeling_mmembed.pipeline_mmembed import SERVING_LIMITS

    load_audio_file(io.BytesIO(data), SERVING_LIMITS.max_audio_seconds, SERVING_LIMITS.max_audio_channels, "audio")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=40,
)
"""Any JSON a client could send (floats include NaN and inf, as Python's json module parses them)."""


REQUEST_FIELDS = ("audio", "sampling_rate", "visual", "transcript")


def with_field(change) -> bytes:
    """A valid request with one input field replaced by any JSON value."""
    request, field, value = change
    return json.dumps({"inputs": {**request["inputs"], field: value}}).encode()


def request_seeds(work: Path) -> list[bytes]:
    wav = audio_seeds(work)[0]
    audio = base64.b64encode(wav).decode()
    header = "frame, face_id, timestamp, confidence, success, AU01_r"
    requests = [
        {"inputs": audio},
        {"inputs": {"audio": audio, "sampling_rate": 16000, "visual": [[0.5] * 35] * 4, "transcript": "hello"}},
        {"inputs": {"audio": audio, "visual": header + "\n1, 0, 0.0, 0.9, 1, 0.5\n"}},
    ]
    return [json.dumps(request).encode() for request in requests]


class RequestTarget:
    """The endpoint handler of a small saved emotion model with every modality."""

    def __init__(self, work: Path):
        from modeling_mmembed import (
            MMEmbedConfig,
            MMEmbedFeatureExtractor,
            MMEmbedForEmotionRecognition,
            MMEmbedProcessor,
            MMEmbedTokenizer,
        )

        folder = work / "model"
        vocabulary = MMEmbedTokenizer().vocab_size
        config = MMEmbedConfig.from_preset("tiny", audio_feature_size=80, text_vocab_size=vocabulary)
        MMEmbedForEmotionRecognition(config).save_pretrained(folder)
        MMEmbedProcessor(MMEmbedFeatureExtractor(feature_size=80), MMEmbedTokenizer()).save_pretrained(folder)
        sys.path.insert(0, str(folder))
        from handler import EndpointHandler

        self.handler = EndpointHandler(str(folder))

    def __call__(self, data: bytes, work: Path) -> None:
        try:
            request = json.loads(data.decode("utf-8", errors="replace"))
        except ValueError:
            return  # not JSON: the endpoint's server answers that before the handler is called
        answer = self.handler(request)
        json.dumps(answer)
        if isinstance(answer, dict):
            assert answer.get("status") == 400 and isinstance(answer.get("error"), str), answer
            raise ValueError(answer["error"])
        assert isinstance(answer, list), answer


TARGETS = {
    "pickle": (pickle_seeds, lambda work: run_pickle),
    "csd": (csd_seeds, lambda work: run_csd),
    "audio": (audio_seeds, lambda work: run_audio),
    "request": (request_seeds, RequestTarget),
}


def datasets_logging() -> None:
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    np.seterr(all="ignore")  # NaN in fuzzed audio is refused by name; numpy's warnings would only be noise


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    datasets_logging()
    work = args.work or Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-"))
    work.mkdir(parents=True, exist_ok=True)
    make_seeds, make_runner = TARGETS[args.target]
    seeds, runner = make_seeds(work), make_runner(work)
    outcomes = Counter()

    inputs = st.tuples(st.sampled_from(seeds), st.lists(MUTATION, max_size=4)).map(lambda pair: mutated(*pair))
    if args.target == "request":
        requests = [json.loads(data) for data in seeds if isinstance(json.loads(data)["inputs"], dict)]
        inputs = (
            inputs
            | JSON_VALUES.map(lambda value: json.dumps({"inputs": value}).encode())
            | st.tuples(st.sampled_from(requests), st.sampled_from(REQUEST_FIELDS), JSON_VALUES).map(with_field)
        )

    @seed(args.seed)
    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def fuzz(data: bytes) -> None:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        try:
            runner(data, work)
            outcomes["result"] += 1
        except ValueError:  # every refusal: the package's errors, UnreadablePickleError, CsdError, RequestError
            outcomes["refused"] += 1
        added = tracemalloc.get_traced_memory()[1] - start
        if added > outcomes["largest_example_bytes"]:
            outcomes["largest_example_bytes"], outcomes["largest_example_input_bytes"] = added, len(data)

    for data in seeds:  # imports and caches that the first call makes are not an example's allocations
        try:
            runner(data, work)
        except ValueError:
            pass
    tracemalloc.start()  # numpy reports its array buffers to tracemalloc, so one example's allocations are seen
    fuzz()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"target": args.target, **outcomes, "process_peak_bytes": peak}))


if __name__ == "__main__":
    main()
