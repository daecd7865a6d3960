"""
The MMEmbed demo web app (Gradio): emotions, transcript and embedding of one clip, from a saved or Hub model.

    python app.py [--model DIR_OR_HUB_ID] [--asr-model DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]
                  [--allowed-models ID [ID ...]]

Runs unchanged as a Hugging Face Space (`spaces/README.md`). Inputs: an audio file or a microphone recording
(at most `MAX_AUDIO_SECONDS`), an optional transcript, optional visual features (an OpenFace 2 CSV or a
`(frames, features)` `.npy`), and the model: an emotion model directory or Hub id. Default: the emotion model the
default run saves (`outputs/demo/raw-pretrained-all-seed0`, its pre-training model `outputs/demo/pretrain-seed0` for
the transcript); when the default run has not been made, a small model is trained on the spot from the demo corpora
(the default run's `quick` budget, under a minute on 2 CPU cores, shown with a progress bar) and kept in
`outputs/app-demo`. A model typed in the page is used for emotions and embedding only (no transcript).
Outputs: the emotion scores as bars with present/absent decisions, the transcript (when an ASR model is there),
the pooled embedding as a `.npy` download, and the latency of the call. Bad input gets a message in the page.

Trust and limits: the app never runs code that comes with a model. A typed model's `config.json` is read as JSON
(model type, architectures) and the model is loaded through this package's own classes with safetensors weights
only; `auto_map`, `custom_pipelines` and the checkpoint's code files are ignored. `--allowed-models` restricts what
a visitor may type. Every input is bounded before it is decoded (`SERVING_LIMITS`: audio length and channels from
the file header, visual frames, transcript length; uploads above `MAX_UPLOAD`), at most `LOADED_MODELS` pipelines
stay loaded and the newest `EMBEDDING_FILES_KEPT` embedding files stay on disk.
"""

import argparse
import functools
import html
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modeling_mmembed.pipeline_mmembed import SERVING_LIMITS

MAX_AUDIO_SECONDS = SERVING_LIMITS.max_audio_seconds
MAX_UPLOAD = "30mb"
"""Gradio refuses larger uploads before they reach the app."""
LOADED_MODELS = 4
"""Pipelines kept in memory at once (least recently used first out)."""
EMBEDDING_FILES_KEPT = 32
"""Embedding downloads kept on disk (Gradio serves its own copy; older files are removed)."""

MAX_SERVED_PARAMETERS = 500_000_000
"""A typed model's parameters (2 GB in float32); the config is checked against this before any weight is made."""
MAX_SERVED_SIZES = {
    "hidden_size": 4096,
    "intermediate_size": 16384,
    "num_attention_heads": 64,
    "num_audio_layers": 48,
    "num_cross_modal_layers": 48,
    "decoder_layers": 48,
    "audio_feature_size": 512,
    "visual_feature_size": 4096,
    "text_feature_size": 4096,
    "text_vocab_size": 1_000_000,
    "vocab_size": 1_000_000,
    "num_speakers": 1_000_000,
    "max_target_positions": 65_536,
    "source_kernel_size": 64,
    "audio_subsampling": 64,
}
"""Each size field of a typed model's config, bounded before the config is even built (the presets lie far below)."""

PIPELINE_ARCHITECTURES = {
    "multimodal-emotion-recognition": "MMEmbedForEmotionRecognition",
    "automatic-speech-recognition": "MMEmbedForPreTraining",
}


class InputProblem(Exception):
    """A problem with what the user gave, shown in the page as is."""


@dataclass
class Analysis:
    scores: list[dict]
    transcript: str
    embedding: np.ndarray
    seconds: float


class Models:
    """
    Pipelines per model id, loaded on first use and kept for the `LOADED_MODELS` most recently used. The default
    model: `model`/`asr_model` when given, else the default run's models under `demo_dir`, else models trained on the
    spot into `quick_dir` with `train.py`'s `quick_size` budget. With `allowed_models`, a model typed in the page
    must be one of them (for a public Space).
    """

    def __init__(
        self,
        model: str | None = None,
        asr_model: str | None = None,
        *,
        demo_dir: Path = Path("outputs/demo"),
        quick_dir: Path = Path("outputs/app-demo"),
        quick_size: str = "quick",
        demo_root: Path | None = None,
        device: str = "cpu",
        allowed_models: list[str] | None = None,
    ):
        self.default = (model, asr_model)
        self.demo_dir, self.quick_dir, self.quick_size, self.demo_root = demo_dir, quick_dir, quick_size, demo_root
        self.device = device
        self.allowed_models = None if allowed_models is None else {name.strip() for name in allowed_models}
        self.pipeline = functools.lru_cache(maxsize=LOADED_MODELS)(self._load_pipeline)

    def resolve(self, model: str | None, progress=None) -> tuple[str, str | None]:
        """(emotion model, ASR model or None) for the id typed in the page (blank: the default model)."""
        if model and model.strip():
            model = model.strip()
            if self.allowed_models is not None and model not in self.allowed_models:
                raise InputProblem(f"{model} is not served here; this app serves {sorted(self.allowed_models)}.")
            return model, None
        if self.default[0]:
            return self.default
        from mmembed_training.demo_grid import default_run_models

        emotion, asr = default_run_models(self.demo_dir)
        if not (emotion / "config.json").is_file():
            emotion, asr = self.quick_dir / "emotion", self.quick_dir / "pretrain"
            if not (emotion / "config.json").is_file():
                from mmembed_training.demo import train_quick_models

                train_quick_models(self.quick_dir, self.quick_size, self.demo_root, progress=progress)
        return str(emotion), str(asr) if (asr / "config.json").is_file() else None

    def emotion(self, model: str):
        return self.pipeline("multimodal-emotion-recognition", model)

    def asr(self, model: str):
        return self.pipeline("automatic-speech-recognition", model)

    def _load_pipeline(self, task: str, model: str):
        return load_pipeline(task, model, self.device)


def load_pipeline(task: str, model: str, device: str = "cpu"):
    """
    The `task` pipeline for an mmembed directory or Hub id, built from this package's own classes: no code that
    comes with the model is imported or run (its `config.json` is read as JSON first, `auto_map` and
    `custom_pipelines` are ignored, and only safetensors weights are loaded).
    """
    from modeling_mmembed import (
        MMEmbedFeatureExtractor,
        MMEmbedForEmotionRecognition,
        MMEmbedForPreTraining,
        MMEmbedProcessor,
        MMEmbedTokenizer,
    )
    from modeling_mmembed.pipeline_mmembed import MMEmbedEmotionPipeline, MMEmbedSpeechRecognitionPipeline

    architecture = PIPELINE_ARCHITECTURES[task]
    model_class = MMEmbedForEmotionRecognition if task == "multimodal-emotion-recognition" else MMEmbedForPreTraining
    check_weights_fit_config(model, check_mmembed_model(model, architecture), model_class)
    try:
        network = model_class.from_pretrained(model, use_safetensors=True)
        processor = MMEmbedProcessor(
            MMEmbedFeatureExtractor.from_pretrained(model), MMEmbedTokenizer.from_pretrained(model)
        )
        if task == "multimodal-emotion-recognition":
            return MMEmbedEmotionPipeline(model=network, processor=processor, device=device, serving_limits=True)
        return MMEmbedSpeechRecognitionPipeline(
            model=network, feature_extractor=processor.feature_extractor, tokenizer=processor.tokenizer, device=device
        )
    except (OSError, ValueError) as error:  # the pipelines refuse weights initialised at random
        raise InputProblem(f"{model} could not be loaded as an mmembed model ({error}).") from None


def is_local(model: str) -> bool:
    return os.path.isabs(model) or model.startswith(".") or os.path.exists(model)


def read_config_json(model: str) -> dict:
    """The model's `config.json` as plain JSON, from its folder or the Hub (nothing of the model is imported)."""
    if is_local(model):
        path = Path(model, "config.json")
        if not path.is_file():
            raise InputProblem(f"{model} is not an mmembed model: there is no folder with a config.json there.")
    else:
        from huggingface_hub import hf_hub_download

        try:
            path = hf_hub_download(model, "config.json")
        except Exception as error:  # noqa: BLE001 - offline, unknown or gated repo, bad id: all the same to the user
            raise InputProblem(
                f"{model} is not an mmembed model: its config.json could not be fetched ({error})."
            ) from None
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputProblem(f"{model} is not an mmembed model: its config.json is not JSON ({error}).") from None
    if not isinstance(config, dict):
        raise InputProblem(f"{model} is not an mmembed model: its config.json is not a JSON object.")
    return config


def model_file(model: str, name: str) -> Path | None:
    """A file of a model folder or Hub repo (None when it has none); only a Hub id is downloaded, nothing else."""
    if is_local(model):
        path = Path(model, name)
        return path if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(model, name))
    except EntryNotFoundError:
        return None
    except Exception as error:  # noqa: BLE001 - offline, gated, unknown: all the same to the user
        raise InputProblem(f"{model}: its {name} could not be fetched ({error}).") from None


def weight_shapes(model: str) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape from the model's safetensors headers (the file's own length bounds them; no data read)."""
    from safetensors import safe_open

    index = model_file(model, "model.safetensors.index.json")
    if index is not None:
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InputProblem(f"{model}: model.safetensors.index.json is not a weight index ({error}).") from None
    else:
        shards = ["model.safetensors"]
    shapes = {}
    for shard in shards:
        path = model_file(model, shard) if "/" not in shard and shard.endswith(".safetensors") else None
        if path is None:
            raise InputProblem(f"{model} has no safetensors weights {shard!r} (only safetensors weights are served).")
        try:
            with safe_open(str(path), framework="pt") as weights:
                shapes.update({key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()})
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error type for a bad header
            raise InputProblem(f"{model}: {shard} is not a readable safetensors file ({error}).") from None
    return shapes


def extractor_mel_bins(model: str):
    """
    The feature extractor's `feature_size`, read as JSON from `preprocessor_config.json` or from the
    `feature_extractor` entry of `processor_config.json` (None when neither has one).
    """
    for name, entry in (("preprocessor_config.json", None), ("processor_config.json", "feature_extractor")):
        path = model_file(model, name)
        if path is None:
            continue
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise InputProblem(f"{model}: its {name} is not JSON ({error}).") from None
        if isinstance(settings, dict) and entry is not None:
            settings = settings.get(entry)
        if isinstance(settings, dict) and "feature_size" in settings:
            return settings["feature_size"]
    return None


def check_weights_fit_config(model: str, config: dict, model_class) -> None:
    """
    Refuse a model whose config would build something its weights do not hold, before anything is allocated: every
    size field within `MAX_SERVED_SIZES`, at most `MAX_SERVED_PARAMETERS` (counted on a model skeleton without
    storage), every parameter present in the safetensors headers with its shape (no layer initialised at random, no
    weight left over), and the feature extractor's mel bins equal to the model's audio input.
    """
    import torch

    from modeling_mmembed import MMEmbedConfig

    for field, limit in MAX_SERVED_SIZES.items():
        value = config.get(field)
        if value is not None and (type(value) is not int or not 0 <= value <= limit):
            raise InputProblem(f"{model}: its config sets {field}={value!r}; this app serves at most {limit}.")
    try:
        with torch.device("meta"):
            skeleton = model_class(MMEmbedConfig.from_dict(config))
    except (ValueError, TypeError, KeyError) as error:
        raise InputProblem(f"{model}: its config.json does not describe a valid mmembed model ({error}).") from None
    parameters = sum(parameter.numel() for parameter in skeleton.parameters())
    if parameters > MAX_SERVED_PARAMETERS:
        raise InputProblem(
            f"{model} has {parameters:,} parameters; this app serves at most {MAX_SERVED_PARAMETERS:,}."
        )
    tied = set(getattr(skeleton, "all_tied_weights_keys", None) or {})
    expected = {key: tuple(value.shape) for key, value in skeleton.state_dict().items() if key not in tied}
    stored = weight_shapes(model)
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected) - tied)
    mismatched = [key for key in sorted(set(expected) & set(stored)) if expected[key] != stored[key]]
    if missing or unexpected or mismatched:
        details = [f"{len(missing)} weights missing (e.g. {missing[:2]})"] if missing else []
        details += (
            [f"{len(unexpected)} weights the config has no place for (e.g. {unexpected[:2]})"] if unexpected else []
        )
        details += [f"{key}: config {expected[key]}, file {stored[key]}" for key in mismatched[:3]]
        raise InputProblem(f"{model}: its config and its weights disagree: {'; '.join(details)}.")
    mel_bins = extractor_mel_bins(model)
    if mel_bins != config.get("audio_feature_size", 80):
        raise InputProblem(
            f"{model}: its feature extractor makes {mel_bins!r} mel bins per frame but the model reads "
            f"{config.get('audio_feature_size', 80)!r}."
        )


def check_mmembed_model(model: str, architecture: str) -> dict:
    """
    The model's `config.json` as JSON; refuses, with a message, a directory or Hub id that is not an mmembed model
    with the wanted head.
    """
    config = read_config_json(model)
    if config.get("model_type") != "mmembed":
        raise InputProblem(
            f"{model} is not an mmembed model: its config says model_type={config.get('model_type')!r}."
        )
    architectures = config.get("architectures") or []
    if architecture not in architectures:
        raise InputProblem(f"{model} is an mmembed model without the {architecture} head ({architectures}).")
    return config


def read_audio(path: str | None) -> tuple[np.ndarray, int]:
    """Samples and rate of the uploaded or recorded file, refused from its header if too long (not decoded)."""
    from modeling_mmembed.audio_mmembed import load_audio_file

    if not path:
        raise InputProblem("Give an audio file or record from the microphone.")
    try:
        return load_audio_file(
            path, SERVING_LIMITS.max_audio_seconds, SERVING_LIMITS.max_audio_channels, name=Path(path).name
        )
    except (ValueError, ImportError) as error:
        raise InputProblem(f"Could not use the audio file {Path(path).name}: {error}") from None


def read_visual(path: str | None):
    """
    None, or the `(frames, features)` array of the uploaded OpenFace CSV (at most `SERVING_LIMITS.max_visual_frames`
    rows are read) or `.npy` file (memory-mapped, so that its size is checked before it is read).
    """
    from modeling_mmembed.openface_mmembed import read_openface_csv

    if not path:
        return None
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise InputProblem(f"Visual features must be an OpenFace 2 .csv or a .npy file; got {Path(path).name}.")
    try:
        if suffix == ".csv":
            # errors name the upload, not the server's temporary path
            return read_openface_csv(path, max_frames=SERVING_LIMITS.max_visual_frames, name=Path(path).name)
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputProblem(f"Could not read the visual features {Path(path).name}: {error}") from None


def analyse(models: Models, audio: str | None, transcript: str, visual: str | None, model: str, progress=None):
    """Emotion scores, transcript, pooled embedding and seconds of one call."""
    import torch

    emotion_model, asr_model = models.resolve(model, progress)
    samples, rate = read_audio(audio)
    emotion = models.emotion(emotion_model)
    inputs = {"audio": samples, "sampling_rate": rate, "visual": read_visual(visual)}
    inputs["transcript"] = (transcript or "").strip() or None
    start = time.perf_counter()
    batch = emotion.preprocess(
        {key: value for key, value in inputs.items() if value is not None}, limits=SERVING_LIMITS
    )
    with torch.inference_mode():
        output = emotion.model(**{name: value.to(emotion.device) for name, value in batch.items()})
    scores = emotion.postprocess({"logits": output.logits})
    text = models.asr(asr_model)({"array": samples, "sampling_rate": rate})["text"] if asr_model else ""
    return Analysis(scores, text, output.pooler_output[0].float().cpu().numpy(), time.perf_counter() - start)


class EmbeddingFiles:
    """`.npy` files of embeddings for download, in one folder that keeps the newest `keep` of them."""

    def __init__(self, folder: Path | None = None, keep: int = EMBEDDING_FILES_KEPT):
        self.folder = Path(folder or tempfile.mkdtemp(prefix="mmembed-embeddings-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keep = keep

    def write(self, embedding: np.ndarray) -> str:
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix="embedding-", suffix=".npy", delete=False) as handle:
            np.save(handle, embedding)
        for old in sorted(self.folder.glob("embedding-*.npy"), key=lambda path: path.stat().st_mtime_ns)[: -self.keep]:
            old.unlink(missing_ok=True)
        return handle.name


def score_bars(scores: list[dict]) -> str:
    """
    The scores as HTML bars (one `.emotion-bar` per label), each with its present/absent decision (multi-label
    heads); a single-label head's most likely class is `top`, a regression's values have no decision.
    """
    rows = []
    softmax = bool(scores) and abs(sum(score["score"] for score in scores) - 1) < 1e-3
    top = max(range(len(scores)), key=lambda index: scores[index]["score"]) if softmax else None
    for index, score in enumerate(scores):
        if "present" in score:
            decision = "present" if score["present"] else "absent"
        else:
            decision = "top" if index == top else ""
        label = html.escape(str(score["label"]))
        rows.append(
            f'<div class="emotion-bar" data-label="{label}" data-decision="{decision}" style="margin:4px 0">'
            f'<span style="display:inline-block;width:90px">{label}</span>'
            f'<span style="display:inline-block;width:{300 * score["score"]:.0f}px;height:14px;'
            f'background:{"#e4572e" if decision in ("present", "top") else "#9aa5b1"}"></span>'
            f" {score['score']:.3f} <b>{decision}</b></div>"
        )
    return '<div id="emotion-bars">' + "".join(rows) + "</div>"


def build_app(models: Models, embeddings: EmbeddingFiles | None = None):
    import gradio as gr

    embeddings = embeddings or EmbeddingFiles()

    def run(audio, transcript, visual, model, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (Gradio's API)
        try:
            result = analyse(models, audio, transcript, visual, model, progress)
        except (InputProblem, ValueError) as problem:
            return "", "", None, "", f"**Problem:** {problem}", None
        latency = f"{1000 * result.seconds:.0f} ms"
        return (
            score_bars(result.scores),
            result.transcript,
            embeddings.write(result.embedding),
            latency,
            "",
            result.scores,
        )

    # delete_cache: Gradio's copies of uploads and downloads older than an hour are removed every 10 minutes
    with gr.Blocks(title="MMEmbed: multimodal emotion recognition", delete_cache=(600, 3600)) as app:
        gr.Markdown(
            "# MMEmbed\nEmotions (6 CMU-MOSEI classes), transcript and multimodal embedding of a clip of at most "
            f"{MAX_AUDIO_SECONDS:g} s. Visual features and transcript are optional."
        )
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", format=None, label="Audio")
                transcript = gr.Textbox(label="Transcript (optional)", elem_id="transcript-input")
                visual = gr.File(label="Visual features: OpenFace CSV or .npy (optional)", file_types=[".csv", ".npy"])
                model = gr.Textbox(label="Model directory or Hub id (blank: the demo model)", elem_id="model-input")
                submit = gr.Button("Analyse", variant="primary", elem_id="analyse")
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                bars = gr.HTML(label="Emotion scores", elem_id="scores")
                heard = gr.Textbox(label="Transcript (ASR)", elem_id="asr-transcript", interactive=False)
                embedding = gr.File(label="Pooled embedding (.npy)", elem_id="embedding")
                latency = gr.Textbox(label="Latency", elem_id="latency", interactive=False)
                scores = gr.JSON(label="Scores (JSON)", elem_id="scores-json")
        submit.click(
            run,
            [audio, transcript, visual, model],
            [bars, heard, embedding, latency, status, scores],
            api_name="predict",
        )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="emotion model directory or Hub id (default: the demo model)")
    parser.add_argument("--asr-model", help="pre-training (ASR) model for the transcript")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument(
        "--allowed-models",
        nargs="+",
        default=None,
        help="the only model directories or Hub ids a visitor may type (default: any mmembed model)",
    )
    args = parser.parse_args()
    app = build_app(Models(args.model, args.asr_model, allowed_models=args.allowed_models))
    app.queue().launch(
        server_name=args.host, server_port=args.port, share=False, show_error=False, max_file_size=MAX_UPLOAD
    )
    print(json.dumps({"serving": f"http://{args.host}:{args.port}"}))


if __name__ == "__main__":
    main()
