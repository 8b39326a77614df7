"""Claiming from the inbox: single files, e-form bundles, interrupted claims, odd names."""

from __future__ import annotations

import os
import stat

import pytest

from helpers.inbox import drop, make_eml
from noarkpipe import api
from noarkpipe.errors import InputFileError
from noarkpipe.run import workarea
from noarkpipe.run.results import Outcome


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


def test_links_and_fifos_are_items_of_their_own_and_no_linked_folder_is_entered(tmp_path):
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    (inbox / "skjema").mkdir(parents=True), outside.mkdir()
    (outside / "S-7.pdf").write_bytes(b"%PDF-1.4 outside")
    (outside / "inni.eml").write_bytes(b"From: x")
    (inbox / "skjema" / "S-7.json").write_text("{}")
    (inbox / "skjema" / "S-7.pdf").symlink_to(outside / "S-7.pdf")  # would complete the bundle if followed
    (inbox / "lenke").symlink_to(outside, target_is_directory=True)
    os.mkfifo(inbox / "pipe.eml")
    (inbox / "brev.eml").write_bytes(b"From: y")
    items = [tuple(p.relative_to(inbox).as_posix() for p in item) for item in workarea.inbox_items(inbox)]
    assert items == [("brev.eml",), ("skjema/S-7.json",), ("lenke",), ("pipe.eml",), ("skjema/S-7.pdf",)]
    assert [p.name for p in workarea.inbox_files(inbox)] == ["brev.eml", "S-7.json"]


def test_a_claimed_link_or_fifo_is_refused_by_lstat_and_by_the_digest_without_being_opened(tmp_path):
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir(), work.mkdir()
    (inbox / "passord.eml").symlink_to("/etc/passwd")
    os.mkfifo(inbox / "pipe.eml")
    (inbox / "brev.eml").write_bytes(b"From: y")
    claimed = {workarea.origin_of(c): c for c in (workarea.claim(i, inbox, work) for i in workarea.inbox_items(inbox))}
    assert workarea.not_regular(claimed["brev.eml"]) is None
    assert workarea.not_regular(claimed["passord.eml"]) == (
        "not a regular file: a symbolic link (to /etc/passwd); noarkpipe never follows links out of the inbox"
    )
    assert workarea.not_regular(claimed["pipe.eml"]).startswith("not a regular file: a FIFO (named pipe)")
    for name in ("passord.eml", "pipe.eml"):  # the second wall: returns at once, reads nothing
        with pytest.raises(InputFileError, match="not a regular file"):
            workarea.item_digest(claimed[name])
    target = workarea.quarantine_item(claimed["pipe.eml"], tmp_path / "q", "pipe.eml", "a FIFO", None)
    assert stat.S_ISFIFO(target.lstat().st_mode)
    assert "sha256: none (not opened)" in target.with_name("pipe.eml.reason.txt").read_text()


def test_a_quarantined_file_keeps_its_whole_name_and_its_reason_file_one_line_per_field(tmp_path):
    inbox, work, quarantine = tmp_path / "inbox", tmp_path / "work", tmp_path / "q"
    inbox.mkdir(), work.mkdir()
    for name in ("a + b.xyz", "ny\nreason: godkjent.xyz", "faktura\u202etxt.exe"):
        (inbox / name).write_bytes(b"\x00")
    kept = []
    for item in workarea.inbox_items(inbox):
        claimed = workarea.claim(item, inbox, work)
        origin = workarea.origin_of(claimed)
        kept.append(workarea.quarantine_item(claimed, quarantine, origin, f"bad: {item[0].name}\n  hint: fix", "0" * 64))
    assert sorted(p.name for p in kept) == ["a + b.xyz", "faktura_txt.exe", "ny_reason_ godkjent.xyz"]
    lines = (quarantine / "ny_reason_ godkjent.xyz.reason.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file: ny\\nreason: godkjent.xyz"
    assert [line.split(":")[0] for line in lines] == ["file", "sha256", "quarantined", "reason", "  reason", "  hint"]


def test_a_device_file_is_refused_without_being_opened(tmp_path):
    device = tmp_path / "null.eml"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        pytest.skip("creating a device file needs CAP_MKNOD")
    assert workarea.not_regular(device) == "not a regular file: a character device; noarkpipe reads only regular files"
    with pytest.raises(InputFileError, match="a character device"):
        workarea.item_digest(device)


def test_items_left_in_the_work_area_come_back_in_the_order_they_were_claimed(tmp_path):
    # A killed run's leftovers are journaled first by the next run: in claim order, so that
    # numbers, and which case a quoted case number names, come out as in an uninterrupted run.
    inbox, work = tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir(), work.mkdir()
    names = [f"{n:02d}-brev.eml" for n in range(40)]
    for name in names:
        (inbox / name).write_bytes(name.encode())
    for sources in workarea.inbox_items(inbox):
        workarea.claim(sources, inbox, work)
    assert [workarea.origin_of(p) for p in workarea.pending_items(work)] == names
