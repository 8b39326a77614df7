"""Claiming from the inbox: single files, e-form bundles, interrupted claims, odd names."""

from __future__ import annotations

import os

from noarkpipe import api, workarea
from noarkpipe.nightly import Outcome

from conftest import drop, make_eml


def test_json_and_pdf_with_the_same_stem_are_one_item_and_partial_uploads_wait(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "skjema").mkdir(parents=True)
    for name in ("skjema/S-101.json", "skjema/S-101.PDF", "skjema/S-102.json", "brev.pdf", "post.eml", "x.eml.part", ".skjult"):
        (inbox / name).write_bytes(b"data")
    items = [tuple(p.relative_to(inbox).as_posix() for p in item) for item in workarea.inbox_items(inbox)]
    assert items == [("brev.pdf",), ("post.eml",), ("skjema/S-101.json", "skjema/S-101.PDF"), ("skjema/S-102.json",)]


def test_a_bundle_is_claimed_whole_and_its_digest_covers_every_file(tmp_path):
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir(), work.mkdir()
    (inbox / "S-1.json").write_text('{"a": 1}')
    (inbox / "S-1.pdf").write_bytes(b"%PDF-1.4 rendering")
    [item] = workarea.inbox_items(inbox)
    claimed = workarea.claim(item, inbox, work)
    assert claimed.is_dir() and sorted(p.name for p in claimed.iterdir()) == ["S-1.json", "S-1.pdf"]
    assert list(inbox.iterdir()) == []
    assert workarea.origin_of(claimed) == "S-1.json + S-1.pdf"
    digest = workarea.item_digest(claimed)
    (claimed / "S-1.pdf").write_bytes(b"%PDF-1.4 another rendering")
    assert workarea.item_digest(claimed)[0] != digest[0]


def test_a_claim_cut_short_is_put_back_into_the_inbox(tmp_path):
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir(), work.mkdir()
    staging = work / f"{workarea.STAGING_PREFIX}20261121T020000-abc"
    staging.mkdir()
    (staging / "S-9.json").write_text("{}")
    (inbox / "S-9.pdf").write_bytes(b"%PDF")  # the half that was not moved yet
    restored = workarea.recover_interrupted_claims(work, inbox)
    assert [p.name for p in restored] == ["S-9.json"]
    assert workarea.pending_items(work) == [] and not staging.exists()
    assert [len(i) for i in workarea.inbox_items(inbox)] == [2]


def test_a_file_named_in_an_odd_encoding_is_taken_in_and_reported_readably(installation):
    inbox = installation.creator("fjellvik").inbox
    latin1_name = "søknad-fra-Åse.eml".encode("latin-1")
    with open(os.path.join(os.fsencode(inbox), latin1_name), "wb") as handle:
        handle.write(make_eml(subject="Søknad med rart filnavn"))
    drop(installation, "fjellvik", "tom.eml", b"")
    os.rename(inbox / "tom.eml", os.path.join(os.fsencode(inbox), "tom-\xe6.eml".encode("latin-1")))
    summary = api.run(installation)
    outcomes = sorted((i.outcome, i.origin_name) for i in summary.items)
    assert outcomes == [
        (Outcome.needs_review, "s\ufffdknad-fra-\ufffdse.eml"),
        (Outcome.quarantined, "tom-\ufffd.eml"),
    ]
    quarantined = [p.name for p in installation.creator("fjellvik").quarantine.iterdir()]
    assert sorted(quarantined) == ["tom-\ufffd.eml", "tom-\ufffd.eml.reason.txt"]
