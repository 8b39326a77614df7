"""fido with its signatures compiled once finds what fido's own matching finds, in the same order.

`identify._CompiledFido` replaces fido's `match_formats` (the XML walk for
every file) with the same walk done once. It must change nothing but the
time: the same formats, the same signatures, the same order, and the same
inferior matches dropped. Checked on every file the repository's fixtures
hold, the image kinds the conversion tests make, office documents, PDF/As,
containers and bytes that match nothing, each compared with an untouched
fido over the same buffers.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path

import pytest
from fido import CONFIG_DIR
from fido.fido import Fido
from fido.versions import get_local_versions

from helpers import convertfactory as factory
from helpers import imagefactory

identify = importlib.import_module("noarkpipe.files.identify")  # the package exports a function of that name

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("formats")
    made = [path for path in sorted((REPO / "fixtures").rglob("*")) if path.is_file()]
    made += [make(folder) for make in imagefactory.BENCH_SAMPLES.values()]
    made += [factory.text_pdf(folder / "tekst.pdf"), factory.jpeg_scan(folder / "brev.jpg"),
             factory.png_scan(folder / "melding.png"), factory.zip_file(folder / "vedlegg.zip"),
             factory.windows_executable(folder / "faktura.exe"), factory.corrupt_pdf(folder / "skadet.pdf"),
             factory.calendar_invitation(folder / "befaring.ics"), factory.forwarded_email(folder / "fwd.eml")]
    made += list(factory.office_documents(folder / "office").values())
    (folder / "random.bin").write_bytes(os.urandom(70_000))
    (folder / "one-byte").write_bytes(b"\x00")
    made += [folder / "random.bin", folder / "one-byte"]
    return made


def _plain_fido() -> Fido:
    versions = get_local_versions(CONFIG_DIR)
    return Fido(quiet=True, conf_dir=CONFIG_DIR,
                format_files=[versions.pronom_signature, versions.fido_extension_signature])


def _buffers(fido: Fido, path: Path) -> tuple[bytes, bytes]:
    with path.open("rb") as stream:
        bof, eof, _ = fido.get_buffers(stream, path.stat().st_size, seekable=True)
    return bof, eof


def _named(matches: list) -> list[tuple[str, str]]:
    return [(format_.findtext("puid"), signature) for format_, signature in matches]


def test_the_same_matches_as_fido_on_files_of_every_kind(files) -> None:
    plain = _plain_fido()
    compiled = identify._fido()._fido
    assert isinstance(compiled, identify._CompiledFido)
    found = set()
    for path in files:
        bof, eof = _buffers(plain, path)
        expected = _named(plain.match_formats(bof, eof))
        assert _named(compiled.match_formats(bof, eof)) == expected, path.name
        found.update(puid for puid, _ in expected)
    # The comparison means something only if the files reach many formats.
    assert len(found) >= 15, found


def test_every_signature_compiles_and_most_formats_are_left_out_by_the_first_byte() -> None:
    compiled = identify._fido()._fido
    assert len(compiled._compiled()) == len(compiled.formats) > 1000
    pdf_candidates = compiled._candidates(ord("%"))
    assert "fmt/477" in {puid for _format, puid, _signatures in pdf_candidates}  # PDF/A-2b
    assert len(pdf_candidates) < len(compiled.formats) / 3


def test_faster_than_fido_itself(files) -> None:
    plain, compiled = _plain_fido(), identify._fido()._fido
    pdf = next(path for path in files if path.name == "tekst.pdf")
    bof, eof = _buffers(plain, pdf)
    compiled.match_formats(bof, eof)

    def best_of(fido: Fido) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            fido.match_formats(bof, eof)
            times.append(time.perf_counter() - started)
        return min(times)

    assert best_of(compiled) < best_of(plain) / 3
