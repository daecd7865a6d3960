"""
Filterbank speed of each feature-extractor back-end, in seconds of audio per CPU second (higher is faster).

    python benchmarks/fbank_speed.py [--seconds 10] [--repeats 5]

Featurises `--seconds` of speech-like 16 kHz audio `--repeats` times per back-end and reports the median. CPU time is
the process's (all threads). Kaldi's own implementation (kaldi-native-fbank, the test reference) is timed for
comparison when installed; it is not a back-end of the extractor.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from modeling_mmembed import MMEmbedFeatureExtractor
from modeling_mmembed.feature_extraction_mmembed import available_backends

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.audio_signals import speech_like  # noqa: E402

try:
    import kaldi_native_fbank
except ImportError:
    kaldi_native_fbank = None


def kaldi_native(samples) -> None:
    options = kaldi_native_fbank.FbankOptions()
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = 80
    fbank = kaldi_native_fbank.OnlineFbank(options)
    fbank.accept_waveform(16000, (samples * 32768.0).tolist())
    fbank.input_finished()
    [fbank.get_frame(index) for index in range(fbank.num_frames_ready)]


def cpu_seconds(function, samples, repeats: int) -> float:
    """Median process CPU time of `function(samples)` over `repeats` runs, after one warm-up."""
    function(samples)
    timings = []
    for _ in range(repeats):
        start = time.process_time()
        function(samples)
        timings.append(time.process_time() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    samples = speech_like(args.seconds)
    candidates = {backend: MMEmbedFeatureExtractor(backend=backend).featurize for backend in available_backends()}
    if kaldi_native_fbank is not None:
        candidates["kaldi-native-fbank (reference)"] = kaldi_native
    print(f"{args.seconds:g} s of 16 kHz audio, median of {args.repeats}")
    print(f"{'back-end':<32} {'CPU s':>8} {'audio s / CPU s':>16}")
    for name, function in candidates.items():
        seconds = cpu_seconds(function, samples, args.repeats)
        print(f"{name:<32} {seconds:>8.4f} {args.seconds / seconds:>16.0f}")


if __name__ == "__main__":
    main()
