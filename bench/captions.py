"""Speech benchmark: recognition speed against real time and its word error rate, for the workers' settings
and (--sweep) each alternative.

    .venv/bin/python bench/captions.py [--minutes 10] [--sweep]

`--minutes` of speech (moonshine-voice's recordings, looped) transcribed by the model the workers use
(captions.speech, Whisper base int8, captions.speech.Decoding); prints elapsed / audio duration (the anchor
is real time: 1/3 or less is the target) and CPU seconds per second of audio (what the machine's load does
not change). WER on two_cities.wav (Dickens' opening paragraph, 44 s) against the book's text. The caption
step's share of a job: bench/job_overhead.py. Run by hand; needs the test and captions extras.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import jiwer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transcode_setup import looped_speech, speech_clip  # noqa: E402

from captions.speech import Decoding, Recognizer, model_dir  # noqa: E402

TWO_CITIES = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it "
    "was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything "
    "before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the "
    "other way, in short, the period was so far like the present period, that some of its noisiest "
    "authorities insisted on its being received, for good or for evil, in the superlative degree of "
    "comparison only."
)


def words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


# --sweep: each setting against the defaults (captions.speech.Decoding), one at a time.
SWEEP = {
    "default": Decoding(),
    "beam 5": Decoding(beam_size=5),
    "no VAD": Decoding(vad_filter=False),
    "4 threads": Decoding(threads=4),
    "batched 8": Decoding(batch_size=8),
    "previous (beam 1, no VAD, 4 threads)": Decoding(vad_filter=False, threads=4),
}


def speech(work: Path, minutes: float, settings: dict[str, Decoding]) -> None:
    audio = looped_speech(work / "speech.wav", minutes * 60)
    for name, decoding in settings.items():
        started = time.monotonic()
        recognizer = Recognizer(model_dir(work / "models"), decoding=decoding)
        print(f"[{name}] {decoding}: model loaded in {time.monotonic() - started:.1f} s (once per worker process)")
        started = time.monotonic()
        transcript = recognizer.transcribe(speech_clip("two_cities.wav"))
        elapsed = time.monotonic() - started
        heard = " ".join(c.text for c in transcript.cues)
        error = jiwer.wer(words(TWO_CITIES), words(heard))
        print(f"  two_cities.wav: language {transcript.language} ({transcript.probability:.2f}), WER {error:.3f}")
        print(
            f"  {transcript.duration:.1f} s of audio in {elapsed:.1f} s: "
            f"{elapsed / transcript.duration:.3f} x real time"
        )
        started, cpu = time.monotonic(), time.process_time()
        transcript = recognizer.transcribe(audio)
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        longest = max((c.end_ms - c.start_ms for c in transcript.cues), default=0) / 1000
        print(
            f"  {transcript.duration / 60:.1f} min of speech: {len(transcript.cues)} cues (longest {longest:.1f} s) "
            f"in {elapsed:.1f} s: **{elapsed / transcript.duration:.3f} x real time** (target <= 0.333), "
            f"CPU {cpu / transcript.duration:.3f} s per s of audio; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sweep", action="store_true", help="every setting of SWEEP, not only the default")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-captions-") as tmp:
        speech(Path(tmp), args.minutes, SWEEP if args.sweep else {"default": Decoding()})
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
