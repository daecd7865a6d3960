"""
The MMEmbed demo web app (Gradio): emotions, transcript and embedding of one clip, from a saved or Hub model.

    python app.py [--model DIR_OR_HUB_ID] [--asr-model DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 7860]

Runs unchanged as a Hugging Face Space (`spaces/README.md`). Inputs: an audio file or a microphone recording
(at most `MAX_AUDIO_SECONDS`), an optional transcript, optional visual features (an OpenFace 2 CSV or a
`(frames, features)` `.npy`), and the model: an emotion model directory or Hub id. Default: the emotion model the
default run saves (`outputs/demo/raw-pretrained-all-seed0`, its pre-training model `outputs/demo/pretrain` for the
transcript); when the default run has not been made, a small model is trained on the spot from the demo corpora
(`train.py`'s `quick` budget, under a minute on 2 CPU cores, shown with a progress bar) and kept in
`outputs/app-demo`. A model typed in the page is used for emotions and embedding only (no transcript).
Outputs: the emotion scores as bars with present/absent decisions, the transcript (when an ASR model is there),
the pooled embedding as a `.npy` download, and the latency of the call. Bad input gets a message in the page.
"""

import argparse
import html
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_AUDIO_SECONDS = 60.0


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
    Pipelines per model id, loaded once. The default model: `model`/`asr_model` when given, else the default run's
    models under `demo_dir`, else models trained on the spot into `quick_dir` with `train.py`'s `quick_size` budget.
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
    ):
        self.default = (model, asr_model)
        self.demo_dir, self.quick_dir, self.quick_size, self.demo_root = demo_dir, quick_dir, quick_size, demo_root
        self.device = device
        self.loaded: dict[str, object] = {}

    def resolve(self, model: str | None, progress=None) -> tuple[str, str | None]:
        """(emotion model, ASR model or None) for the id typed in the page (blank: the default model)."""
        if model and model.strip():
            return model.strip(), None
        if self.default[0]:
            return self.default
        emotion, asr = self.demo_dir / "raw-pretrained-all-seed0", self.demo_dir / "pretrain"
        if not (emotion / "config.json").is_file():
            emotion, asr = self.quick_dir / "emotion", self.quick_dir / "pretrain"
            if not (emotion / "config.json").is_file():
                from train import train_quick_models

                train_quick_models(self.quick_dir, self.quick_size, self.demo_root, progress=progress)
        return str(emotion), str(asr) if (asr / "config.json").is_file() else None

    def emotion(self, model: str):
        return self._pipeline("multimodal-emotion-recognition", model, "MMEmbedForEmotionRecognition")

    def asr(self, model: str):
        return self._pipeline("automatic-speech-recognition", model, "MMEmbedForPreTraining")

    def _pipeline(self, task: str, model: str, architecture: str):
        key = f"{task}:{model}"
        if key not in self.loaded:
            check_mmembed_model(model, architecture)
            from transformers import pipeline

            self.loaded[key] = pipeline(task, model=model, trust_remote_code=True, device=self.device)
        return self.loaded[key]


def check_mmembed_model(model: str, architecture: str) -> None:
    """Refuse, with a message, a directory or Hub id that is not an mmembed model with the wanted head."""
    from transformers import AutoConfig

    if os.path.isabs(model) or model.startswith(".") or os.path.exists(model):
        if not Path(model, "config.json").is_file():
            raise InputProblem(f"{model} is not an mmembed model: there is no folder with a config.json there.")
    try:
        config = AutoConfig.from_pretrained(model, trust_remote_code=True)
    except (OSError, ValueError) as error:
        raise InputProblem(f"{model} is not an mmembed model: its config could not be loaded ({error}).") from None
    if config.model_type != "mmembed":
        raise InputProblem(f"{model} is not an mmembed model: its config says model_type={config.model_type!r}.")
    if architecture not in (config.architectures or []):
        raise InputProblem(f"{model} is an mmembed model without the {architecture} head ({config.architectures}).")


def read_audio(path: str | None) -> tuple[np.ndarray, int]:
    """Samples and rate of the uploaded or recorded file; refuses unreadable and too-long audio."""
    from modeling_mmembed.feature_extraction_mmembed import load_audio_file

    if not path:
        raise InputProblem("Give an audio file or record from the microphone.")
    try:
        samples, rate = load_audio_file(path)
    except Exception as error:  # soundfile raises its own error types for every unreadable format
        raise InputProblem(f"Could not read the audio file {Path(path).name}: {error}") from None
    seconds = len(samples) / rate
    if seconds > MAX_AUDIO_SECONDS:
        raise InputProblem(
            f"The audio is {seconds:.1f} s long; this demo takes at most {MAX_AUDIO_SECONDS:g} s. Cut it shorter."
        )
    return samples, rate


def read_visual(path: str | None):
    """None, an OpenFace CSV path (read by the processor), or the `(frames, features)` array of a `.npy` file."""
    if not path:
        return None
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return path
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as error:
            raise InputProblem(f"Could not read the visual features {Path(path).name}: {error}") from None
    raise InputProblem(f"Visual features must be an OpenFace 2 .csv or a .npy file; got {Path(path).name}.")


def analyse(models: Models, audio: str | None, transcript: str, visual: str | None, model: str, progress=None):
    """Emotion scores, transcript, pooled embedding and seconds of one call."""
    import torch

    emotion_model, asr_model = models.resolve(model, progress)
    samples, rate = read_audio(audio)
    emotion = models.emotion(emotion_model)
    inputs = {"audio": samples, "sampling_rate": rate, "visual": read_visual(visual)}
    inputs["transcript"] = (transcript or "").strip() or None
    start = time.perf_counter()
    batch = emotion.preprocess({key: value for key, value in inputs.items() if value is not None})
    with torch.inference_mode():
        output = emotion.model(**{name: value.to(emotion.device) for name, value in batch.items()})
    scores = emotion.postprocess({"logits": output.logits})
    text = models.asr(asr_model)({"array": samples, "sampling_rate": rate})["text"] if asr_model else ""
    return Analysis(scores, text, output.pooler_output[0].float().cpu().numpy(), time.perf_counter() - start)


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


def build_app(models: Models):
    import gradio as gr

    def run(audio, transcript, visual, model, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (Gradio's API)
        try:
            result = analyse(models, audio, transcript, visual, model, progress)
        except (InputProblem, ValueError) as problem:
            return "", "", None, "", f"**Problem:** {problem}", None
        with tempfile.NamedTemporaryFile(prefix="embedding-", suffix=".npy", delete=False) as handle:
            np.save(handle, result.embedding)
        embedding = handle.name
        latency = f"{1000 * result.seconds:.0f} ms"
        return score_bars(result.scores), result.transcript, str(embedding), latency, "", result.scores

    with gr.Blocks(title="MMEmbed: multimodal emotion recognition") as app:
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
    args = parser.parse_args()
    app = build_app(Models(args.model, args.asr_model))
    app.queue().launch(server_name=args.host, server_port=args.port, share=False, show_error=False)
    print(json.dumps({"serving": f"http://{args.host}:{args.port}"}))


if __name__ == "__main__":
    main()
