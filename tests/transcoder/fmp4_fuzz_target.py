"""atheris target for transcoder.package.fmp4, run as a script by test_fmp4_fuzz.py (libFuzzer exits the process).

Every input goes through each public reader: as an init segment, as a media segment alone, and as a
media segment of each seed's init (so that trex defaults and the NAL length size are in play). Any
exception but MalformedFmp4 propagates, and atheris reports it as a crash with the input saved.
Usage: python fmp4_fuzz_target.py INIT_FILE... -- LIBFUZZER_ARGS... CORPUS_DIR
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from transcoder.errors import MalformedFmp4
    from transcoder.package import fmp4


def main() -> None:
    split = sys.argv.index("--")
    inits = []
    for path in sys.argv[1:split]:
        with open(path, "rb") as f:
            inits.append(fmp4.parse_init(f.read()))

    def one_input(data: bytes) -> None:
        for parse in (
            fmp4.parse_init,
            lambda d: fmp4.parse_segment(d, 90_000),
            *(lambda d, init=init: fmp4.parse_media_segment(d, init) for init in inits),
        ):
            try:
                parse(data)
            except MalformedFmp4:
                pass

    atheris.Setup([sys.argv[0], *sys.argv[split + 1 :]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
