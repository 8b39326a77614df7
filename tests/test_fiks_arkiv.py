"""KS Fiks Arkiv messages through the nightly run, as a form service or fagsystem delivers them.

A fresh installation takes the sample messages of `fixtures/sample-fiks/`
(zips, and a folder), journals them into the right cases, answers each with a
kvittering or a feilmelding that validates against the shipped Fiks Arkiv
schemas, and changes nothing when the same messages come again.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from noarkpipe.config import FiksArkivSettings, load_settings
from noarkpipe.core.arkivmelding import Arkivmelding, EksternNoekkel, SaksmappeAngivelse
from noarkpipe.errors import ArkivmeldingRefused, ExitCode
from noarkpipe.intake.fiks_arkiv import is_fiks_message
from noarkpipe.journal.arkivmelding import target
from noarkpipe.store import tables
from noarkpipe.store.engine import Store
from noarkpipe.xml.schemas import safe_parser

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sample-fiks"
SCHEMAS = Path(__file__).resolve().parents[1] / "src" / "noarkpipe" / "intake" / "fiks-arkiv-v1"
KVITTERING = "no.ks.fiks.arkiv.v1.arkivering.arkivmelding.opprett.kvittering"
K = "{https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/arkivmelding/opprett/kvittering/v1}"
FEIL = "{https://ks-no.github.io/standarder/fiks-protokoll/fiks-arkiv/feil/feilmelding/v1}"

SYSTEMS = """
[arkivskaper.fiks_arkiv]
unknown_systems = "refuse"
[[arkivskaper.fiks_arkiv.systems]]
name = "eByggesak"
trust = "journal"
[[arkivskaper.fiks_arkiv.systems]]
name = "Visma Flyt Skole"
trust = "review"
"""


@pytest.fixture
def site(installation) -> Path:
    """The sample installation with Fjellvik's two sending systems known, others refused."""
    config = installation.config_path
    head, marker, tail = config.read_text(encoding="utf-8").partition('[[arkivskaper]]\nkode = "strandby"')
    config.write_text(head + SYSTEMS + "\n" + marker + tail, encoding="utf-8")
    return config


def _run(config: Path) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "run", "-q", "-c", str(config), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode in (ExitCode.ok, ExitCode.items_quarantined), done.stderr
    return done.returncode, json.loads(done.stdout)


def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / f"{name}.xsd"), safe_parser()))


def _answers(outbox: Path) -> dict[str, etree._Element]:
    """Every answer in the outbox by file name, each validated against the schema its name gives."""
    found = {}
    for path in sorted(outbox.iterdir()):
        assert not path.name.startswith("."), f"a temporary file was left: {path.name}"
        meldingstype = path.name.removesuffix(".xml").split(".", 1)[1]
        root = etree.fromstring(path.read_bytes(), safe_parser())
        schema = _schema(meldingstype)
        assert schema.validate(root), (path.name, [str(e) for e in schema.error_log])
        found[path.name] = root
    return found


def _kvittering(root: etree._Element) -> dict[str, str]:
    mappe, registrering = root.find(f"{K}mappeKvittering"), root.find(f"{K}registreringKvittering")
    return {
        "mappe": mappe.findtext(f"{K}systemID"),
        "mappeID": mappe.findtext(f"{K}mappeID"),
        "mappe_som": mappe.findtext(f"{K}opprettetEllerEksisterende"),
        "journalpost": registrering.findtext(f"{K}systemID"),
        "journalpost_som": registrering.findtext(f"{K}opprettetEllerEksisterende"),
        "status": registrering.find(f"{K}journalstatus")[0].text,
    }


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_three_messages_journaled_into_their_cases_answered_and_a_second_delivery_changes_nothing(site):
    settings = load_settings(site)
    creator = settings.creator("fjellvik")
    for name in ("01-byggesak-soknad.zip", "02-byggesak-tilleggsdokumentasjon.zip", "03-elevmappe.zip",
                 "90-ugyldig.zip", "91-mangler-fil.zip"):
        shutil.copy(SAMPLES / name, creator.inbox / name)
    creator.outbox.mkdir(parents=True)
    (creator.outbox / ".x.kvittering.xml.1234-abcd.part").write_bytes(b"<halvskrevet")  # a killed run's leftover

    code, summary = _run(site)

    assert code == ExitCode.items_quarantined
    outcomes = {item["origin_name"]: item for item in summary["items"]}
    assert outcomes["01-byggesak-soknad.zip"]["outcome"] == "journaled"  # eByggesak: trust = "journal"
    assert outcomes["02-byggesak-tilleggsdokumentasjon.zip"]["outcome"] == "journaled"
    assert outcomes["03-elevmappe.zip"]["outcome"] == "needs_review"  # Visma Flyt Skole: trust = "review"
    assert {outcomes[n]["outcome"] for n in ("90-ugyldig.zip", "91-mangler-fil.zip")} == {"quarantined"}
    # The second message of the same key joins the first's case.
    first, second = outcomes["01-byggesak-soknad.zip"], outcomes["02-byggesak-tilleggsdokumentasjon.zip"]
    assert first["saksmappe"].rsplit("-", 1)[0] == second["saksmappe"].rsplit("-", 1)[0]

    answers = _answers(creator.outbox)
    kvitteringer = [_kvittering(root) for name, root in answers.items() if KVITTERING in name]
    feil = [root for name, root in answers.items() if ".feilmelding.ugyldigforespoersel." in name]
    assert len(kvitteringer) == 3 and len(feil) == 2 and len(answers) == 5
    by_status = sorted((k["mappe_som"], k["journalpost_som"], k["status"]) for k in kvitteringer)
    assert by_status == [("Eksisterende", "Opprettet", "J"), ("Opprettet", "Opprettet", "J"), ("Opprettet", "Opprettet", "M")]
    byggesak = [k for k in kvitteringer if k["status"] == "J"]
    assert byggesak[0]["mappe"] == byggesak[1]["mappe"] and byggesak[0]["journalpost"] != byggesak[1]["journalpost"]
    reasons = " ".join(root.findtext(f"{FEIL}feilmelding") for root in feil)
    assert "situasjonsplan.pdf" in reasons and "schema" in reasons and "not journaled" in reasons
    for name in ("90-ugyldig.zip", "91-mangler-fil.zip"):
        assert (creator.quarantine / name).read_bytes() == (SAMPLES / name).read_bytes()
        assert "reason:" in (creator.quarantine / f"{name}.reason.txt").read_text(encoding="utf-8")

    shown = subprocess.run([sys.executable, "-m", "noarkpipe.cli", "check-config", "-c", str(site)],
                           capture_output=True, text=True, timeout=60).stdout
    assert "sending systems: eByggesak (journal), Visma Flyt Skole (review); others: refused" in shown

    # The store: what the kvitteringer say, the elevmappe screened as its sender asked.
    store = Store.open(settings.store_url)
    with store.read() as session:
        saker = {s.systemID: s for s in session.scalars(select(tables.Saksmappe))}
        posts = {p.systemID: p for p in session.scalars(select(tables.Journalpost))}
        assert set(saker) == {k["mappe"] for k in kvitteringer} and set(posts) == {k["journalpost"] for k in kvitteringer}
        byggesak_case = saker[byggesak[0]["mappe"]]
        assert byggesak_case.klasse.klasseID == "L42" and len(byggesak_case.journalposter) == 2
        elev = next(p for p in posts.values() if p.journalstatus.startswith("Midlertidig"))
        assert elev.journalposttype == "Utgående dokument" and elev.tilgangsrestriksjon == "13"
        assert "Sander" not in (elev.offentligTittel or "") and "Sander" in elev.tittel
        assert "Sander" not in (elev.saksmappe.offentligTittel or "") and elev.saksmappe.tilgangsrestriksjon == "13"
        parter = {k.korrespondansepartNavn: k.korrespondanseparttype for k in posts[byggesak[0]["journalpost"]].korrespondanseparter}
        assert "Avsender" in parter.values() or "Avsender" in {
            k.korrespondanseparttype for p in byggesak_case.journalposter for k in p.korrespondanseparter}
        case_parts = {(p.partNavn, p.partRolle) for p in session.scalars(select(tables.SaksmappePart))}
        assert ("Fjellvik Eiendom AS", "TH") in case_parts and ("Sander Nilsen Berg", "ELEV") in case_parts
        counts = (session.scalar(select(func.count(tables.Journalpost.id))),
                  session.scalar(select(func.count(tables.Dokumentbeskrivelse.id))))
    assert counts == (3, 4)

    # A second run finds nothing new; the same messages delivered again give the same answers, nothing journaled twice.
    before = _digests(creator.outbox)
    assert _run(site)[1]["items"] == []
    for name in ("01-byggesak-soknad.zip", "03-elevmappe.zip"):
        shutil.copy(SAMPLES / name, creator.inbox / f"igjen-{name}")
    _, again = _run(site)
    assert sorted(item["outcome"] for item in again["items"]) == ["duplicate", "duplicate"]
    assert _digests(creator.outbox) == before
    with store.read() as session:
        assert (session.scalar(select(func.count(tables.Journalpost.id))),
                session.scalar(select(func.count(tables.Dokumentbeskrivelse.id)))) == counts

    # What was journaled exports as a valid Noark 5 extract, the case parts in it.
    cli = [sys.executable, "-m", "noarkpipe.cli"]
    approve = subprocess.run([*cli, "review", "approve", "-c", str(site), "-a", "fjellvik", "--by", "arkivar",
                              outcomes["03-elevmappe.zip"]["journalpost"]], capture_output=True, text=True, timeout=120)
    assert approve.returncode == 0, approve.stderr
    out = site.parent / "uttrekk"
    exported = subprocess.run([*cli, "export", "-c", str(site), "-a", "fjellvik", "--out", str(out), "--force"],
                              capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    (tar,) = out.glob("*.tar")
    validated = subprocess.run([*cli, "validate", str(tar)], capture_output=True, text=True, timeout=300)
    assert validated.returncode == 0 and "VERDICT: PASSED" in validated.stdout, validated.stdout[-2000:]
    # The public journal shows the screened elevmappe without the pupil, the parent or the fødselsnummer.
    public = site.parent / "postliste"
    published = subprocess.run([*cli, "journal", "publish", "-c", str(site), "-a", "fjellvik", "--from", "2000-01-01",
                                "--to", "2100-12-31", "--out", str(public)], capture_output=True, text=True, timeout=120)
    assert published.returncode == 0, published.stderr
    shown = "".join(path.read_text(encoding="utf-8") for path in public.iterdir())
    assert "Fjellvik Bygg og Anlegg AS" in shown and "Vedtak om spesialundervisning" in shown
    assert not any(secret in shown for secret in ("Sander", "Marte", "14831234548"))


def _members(sample: str) -> dict[str, bytes]:
    with zipfile.ZipFile(SAMPLES / sample) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _edited(sample: str, *replacements: tuple[bytes, bytes]) -> bytes:
    members = _members(sample)
    xml = members["arkivmelding.xml"]
    for old, new in replacements:
        assert old in xml, old
        xml = xml.replace(old, new)
    return _zip({**members, "arkivmelding.xml": xml})


def test_messages_that_cannot_be_placed_get_the_right_feilmelding_and_nothing_is_journaled(site):
    settings = load_settings(site)
    creator = settings.creator("fjellvik")
    deliveries = {
        # 02 before 01: no case has its key, and it gives no title to open one with.
        "a-uten-sak.zip": ((SAMPLES / "02-byggesak-tilleggsdokumentasjon.zip").read_bytes(), "ikkefunnet"),
        # A system this archive does not know (unknown_systems = "refuse").
        "b-ukjent-system.zip": (_edited("01-byggesak-soknad.zip", (b"<system>eByggesak</system>",
                                                                    b"<system>Ukjent Fagsystem</system>")),
                                "ugyldigforespoersel"),
        # A class that claims our K-koder but is not among them.
        "c-ukjent-klasse.zip": (_edited("01-byggesak-soknad.zip", (b"<klasseID>L42</klasseID>", b"<klasseID>Q99</klasseID>"),
                                        (b"BS-2026-0042", b"BS-2026-0077")),
                                "ugyldigforespoersel"),
    }
    for name, (content, _) in deliveries.items():
        (creator.inbox / name).write_bytes(content)

    _, summary = _run(site)

    assert {item["outcome"] for item in summary["items"]} == {"quarantined"}
    answers = _answers(creator.outbox)
    assert sorted(name.split(".feilmelding.")[1] for name in answers) == sorted(
        f"{feiltype}.xml" for _, feiltype in deliveries.values())
    reasons = {item["origin_name"]: item["reason"] for item in summary["items"]}
    assert "BS-2026-0042" in reasons["a-uten-sak.zip"] and "Ukjent Fagsystem" in reasons["b-ukjent-system.zip"]
    assert "fiks_arkiv.systems" in reasons["b-ukjent-system.zip"]  # the fix: add it to the config
    with Store.open(settings.store_url).read() as session:
        assert session.scalar(select(func.count(tables.Journalpost.id))) == 0
        assert session.scalar(select(func.count(tables.Saksmappe.id))) == 0
    for name in deliveries:
        assert (creator.quarantine / name).is_file()


def test_a_message_folder_and_a_message_sent_again_in_other_bytes(site):
    """A folder renamed into the inbox is one message; the same registrering key again is 'Eksisterende', not a copy."""
    settings = load_settings(site)
    creator = settings.creator("fjellvik")
    folder = creator.inbox / ".skrives"
    folder.mkdir()
    for name, content in _members("01-byggesak-soknad.zip").items():
        (folder / name).write_bytes(content)
    assert is_fiks_message(folder)
    folder.rename(creator.inbox / "melding-0001")

    _, summary = _run(site)
    assert [item["outcome"] for item in summary["items"]] == ["journaled"]
    first = _answers(creator.outbox)

    # The sender's client zips the same message again (other bytes, same arkivmelding): answered, not journaled.
    members = _members("01-byggesak-soknad.zip")
    (creator.inbox / "01-igjen.zip").write_bytes(_zip(dict(reversed(list(members.items())))))
    _, again = _run(site)
    assert [item["outcome"] for item in again["items"]] == ["duplicate"]
    assert "journaled already" in again["items"][0]["reason"]
    (name, root), = _answers(creator.outbox).items()
    assert list(first) == [name]  # the same meldingId: the answer is replaced, not added
    assert (_kvittering(root)["mappe_som"], _kvittering(root)["journalpost_som"]) == ("Eksisterende", "Eksisterende")
    with Store.open(settings.store_url).read() as session:
        assert session.scalar(select(func.count(tables.Journalpost.id))) == 1


def test_the_case_a_message_names_must_exist_and_be_one(site):
    """References that disagree, another arkivdel, an unknown systemID or saksnummer: refused with the right feiltype."""
    settings = load_settings(site)
    creator = settings.creator("fjellvik")
    for name in ("01-byggesak-soknad.zip", "03-elevmappe.zip"):
        shutil.copy(SAMPLES / name, creator.inbox / name)
    _run(site)
    store = Store.open(settings.store_url)

    def melding(**angivelse) -> Arkivmelding:
        return Arkivmelding(
            system="eByggesak", melding_id="m-1", antall_filer=0, saksmappe=SaksmappeAngivelse(**angivelse),
            tittel="Brev", journalposttype="I", ekstern_noekkel=EksternNoekkel(fagsystem="eByggesak", noekkel="X-1"),
        )

    with store.read() as session:
        byggesak = session.scalar(select(tables.Saksmappe).where(tables.Saksmappe.klasse.has(klasseID="L42")))
        elev = session.scalar(select(tables.Saksmappe).where(tables.Saksmappe.id != byggesak.id))
        arkivdel = session.get(tables.Arkivdel, byggesak.arkivdel_id)
        klasser = {k.klasseID: k.id for k in session.scalars(select(tables.Klasse))}

        def place(m: Arkivmelding):
            return target(session, byggesak.arkivskaper_id, klasser, arkivdel, m, FiksArkivSettings())

        key = EksternNoekkel(fagsystem="eByggesak", noekkel="BS-2026-0042")
        assert place(melding(ekstern_noekkel=key)).saksmappe.id == byggesak.id
        assert place(melding(saksaar=elev.saksaar, sakssekvensnummer=elev.sakssekvensnummer)).saksmappe.id == elev.id
        refusals = {
            "two cases": (melding(ekstern_noekkel=key, system_id=elev.systemID), "ugyldigforespoersel", "different"),
            "arkivdel": (melding(tittel="Ny sak", arkivdel="Fagarkiv 1990-1999"), "ugyldigforespoersel", "arkivdel"),
            "systemID": (melding(system_id="9d4f4c62-0000-4000-8000-000000000000"), "ikkefunnet", "systemID"),
            "saksnummer": (melding(saksaar=2001, sakssekvensnummer=7), "ikkefunnet", "2001/7"),
            "no case": (melding(), "ugyldigforespoersel", "names no saksmappe"),
        }
        for what, (asked, feiltype, said) in refusals.items():
            with pytest.raises(ArkivmeldingRefused) as refused:
                place(asked)
            assert (refused.value.feiltype, refused.value.melding_id) == (feiltype, "m-1"), what
            assert said in str(refused.value), what
