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
        emotion, asr = self.demo_dir / "raw-pretrained-all-seed0", self.demo_dir / "pretrain-seed0"
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
    check_mmembed_model(model, architecture)
    model_class = MMEmbedForEmotionRecognition if task == "multimodal-emotion-recognition" else MMEmbedForPreTraining
    try:
        network = model_class.from_pretrained(model, use_safetensors=True)
        processor = MMEmbedProcessor(
            MMEmbedFeatureExtractor.from_pretrained(model), MMEmbedTokenizer.from_pretrained(model)
        )
    except (OSError, ValueError) as error:
        raise InputProblem(f"{model} could not be loaded as an mmembed model ({error}).") from None
    if task == "multimodal-emotion-recognition":
        return MMEmbedEmotionPipeline(model=network, processor=processor, device=device, serving_limits=True)
    return MMEmbedSpeechRecognitionPipeline(
        model=network, feature_extractor=processor.feature_extractor, tokenizer=processor.tokenizer, device=device
    )


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


def check_mmembed_model(model: str, architecture: str) -> None:
    """Refuse, with a message, a directory or Hub id that is not an mmembed model with the wanted head."""
    config = read_config_json(model)
    if config.get("model_type") != "mmembed":
        raise InputProblem(
            f"{model} is not an mmembed model: its config says model_type={config.get('model_type')!r}."
        )
    architectures = config.get("architectures") or []
    if architecture not in architectures:
        raise InputProblem(f"{model} is an mmembed model without the {architecture} head ({architectures}).")


def read_audio(path: str | None) -> tuple[np.ndarray, int]:
    """Samples and rate of the uploaded or recorded file, refused from its header if too long (not decoded)."""
    from modeling_mmembed.feature_extraction_mmembed import load_audio_file

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
    """The scores as HTML bars (one `.emotion-bar` per label), each with its present/absent decision."""
    rows = []
    for score in scores:
        decision = "present" if score.get("present") else "absent"
        label = html.escape(str(score["label"]))
        rows.append(
            f'<div class="emotion-bar" data-label="{label}" data-decision="{decision}" style="margin:4px 0">'
            f'<span style="display:inline-block;width:90px">{label}</span>'
            f'<span style="display:inline-block;width:{300 * score["score"]:.0f}px;height:14px;'
            f'background:{"#e4572e" if decision == "present" else "#9aa5b1"}"></span>'
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
