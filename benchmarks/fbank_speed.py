"""
Figure 5: filterbank speed of each feature-extractor back-end, in seconds of audio per CPU second (higher is faster).

    python -m benchmarks.fbank_speed [--smoke] [--seconds 10] [--repeats 5]

Featurises `--seconds` of speech-like 16 kHz audio `--repeats` times per back-end and reports the median. CPU time is
the process's (all threads). Kaldi's own implementation (kaldi-native-fbank, the test reference) is timed for
comparison when installed; it is not a back-end of the extractor.
"""

import statistics
import time

from benchmarks.common import arguments, emit, peak_memory_mb
from modeling_mmembed import MMEmbedFeatureExtractor
from modeling_mmembed.feature_extraction_mmembed import available_backends
from tests.audio_signals import speech_like

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


def main() -> dict:
    args = arguments(__doc__, seconds=(float, 10.0, "audio length"), repeats=(int, 5, "runs (median)"))
    seconds, repeats = (1.0, 2) if args.smoke else (args.seconds, args.repeats)
    samples = speech_like(seconds)
    candidates = {backend: MMEmbedFeatureExtractor(backend=backend).featurize for backend in available_backends()}
    if kaldi_native_fbank is not None:
        candidates["kaldi-native-fbank (reference)"] = kaldi_native
    results = {name: seconds / cpu_seconds(function, samples, repeats) for name, function in candidates.items()}
    rows = [[name, f"{speed:.0f}"] for name, speed in results.items()]
    record = {"audio_seconds": seconds, "audio_seconds_per_cpu_second": results, **peak_memory_mb("cpu")}
    return emit("figure 5: feature extraction", record, rows, ["back-end", "audio s / CPU s"], args)


if __name__ == "__main__":
    main()
