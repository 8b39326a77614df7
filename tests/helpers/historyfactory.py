"""A realistic journaled history for one municipality, written into a real journal store.

About a thousand incoming items in some 600 cases over two years, in twelve
K-code classes with enough history to learn from, plus two classes with too
little (070, and 000 for the odd general enquiry). Titles come from templates
with the variation a post room sees: names and addresses with æøå, gnr/bnr in
several spellings, dates, typos, e-mail prefixes, ASCII transliteration,
bokmål and nynorsk forms, and templates that deliberately sit between two
classes (a connection to water *and* sewage, a job application for a
kindergarten teacher, a freedom-of-information request about a building case).

Items go through `ensure_structure` and `journal_submission` like the
nightly run's, then get what an archivist would have done: the class and case
title set, the status moved on to Journalført (or later). Some items are left
in states training must ignore (M, Utgår, a Journalført item in a cancelled
case); their titles carry `EXCLUDED_MARKER`. Social services, health and named personnel items are
screened, with the person's name masked in offentligTittel; those names come
from `SCREENED_SURNAMES` only.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from noarkpipe.classify.screening import MASK
from noarkpipe.config import (
    ArkivdelSettings,
    ArkivSettings,
    ArkivskaperSettings,
    KlassifikasjonssystemSettings,
    load_klasser_csv,
)
from noarkpipe.core.codes import Journalstatus, Saksstatus
from noarkpipe.core.submission import Party, Source, Submission
from noarkpipe.journal.journaling import ensure_structure, journal_submission
from noarkpipe.store.engine import Store

K_KODER = Path(__file__).resolve().parents[2] / "src" / "noarkpipe" / "templates" / "k-koder.csv"
ACTOR = "historyfactory"
EXCLUDED_MARKER = "kontrollmerke"

FIRST_NAMES = ["Åse", "Øystein", "Kåre", "Bjørn", "Ingrid", "Sigrid", "Håkon", "Mari", "Ola", "Kari",
               "Jørgen", "Solveig", "Tore", "Ragnhild", "Even", "Synnøve", "Astrid", "Liv", "Ørjan", "Frøydis"]
PUBLIC_SURNAMES = ["Ødegård", "Hågensen", "Sæther", "Løvås", "Brække", "Nilsen", "Haugen", "Dahl", "Aasen",
                   "Strøm"]
SCREENED_SURNAMES = ["Kvålsvik", "Tønnesland", "Bærheimsli", "Fjæreide", "Grønlistuen", "Myrvoldsæter"]
CHILDREN = ["Emma", "Nora", "Jakob", "Olav", "Sofie", "Åsmund", "Mathea", "Eirik", "Ylva", "Tiril"]
STREETS = ["Storgata", "Fjordvegen", "Kirkevegen", "Skoleveien", "Sjøgata", "Bjørkelia", "Åsveien", "Lyngbakken",
           "Myrvegen", "Strandvegen", "Tjønnåsen", "Kvernhusvegen", "Bråtevegen", "Solbærstien"]
ROADS = ["Fv. 57", "Kirkevegen", "Åsveien ved Lia", "Strandvegen", "Fylkesveg 5410", "Bråtevegen"]
TILTAK = ["tilbygg", "garasje", "carport", "terrasse", "bruksendring", "riving av uthus", "fradeling",
          "enebolig", "fritidsbolig", "støttemur", "påbygg", "veranda", "anneks", "tomannsbolig", "naust"]
BARNEHAGER = ["Solsikken barnehage", "Tøffeldyret barnehage", "Fjellvik barnehage", "Åsen naturbarnehage",
              "Kråkeslottet barnehage", "Blåbærtuva FUS barnehage"]
SKOLER = ["Fjellvik skole", "Åsen barneskole", "Sjøbyen ungdomsskole", "Lia skule", "Strand oppvekstsenter"]
RESTAURANTER = ["Restaurant Måken", "Kafé Bølgen", "Pub Ankeret", "Brygga Spiseri", "Hotell Fjordgløtt",
                "Bakeriet på Torget", "Sjøbua Bar"]
ARRANGEMENT = ["Bryggefestivalen", "julebord i Samfunnshuset", "bryllup på Fjellvik gamle skole",
               "konsert i idrettshallen", "Sommarfesten på kaia", "Martnan {aar}"]
STILLINGER = ["barnehagelærer", "sykepleier", "lærer", "saksbehandler", "renholder", "helsefagarbeider",
              "ingeniør VA", "konsulent", "byggesaksbehandler", "miljøterapeut"]
UTVALG = ["kommunestyret", "formannskapet", "plan- og bygningsutvalget", "hovedutval for oppvekst",
          "kontrollutvalget", "eldrerådet", "ungdomsrådet"]
MEDIA = ["Fjellvik Avis", "NRK Vestland", "Bergens Tidende", "journalist {navn}"]
TEMA_INNSYN = ["byggesaka for {gbnr}", "skjenkebevilling for {restaurant}", "eiendomsskatt {aar}",
               "tilsetting av {stilling}", "utslippstillatelse {gbnr}", "tilsynsrapport for {barnehage}",
               "vannkvaliteten i {aar}", "møte i {utvalg}", "skoleskyss ved {skole}"]
TEMA_POLITIKK = ["ny barnehage på Åsen", "gatelys i {vei}", "nedlegging av Lia skule", "eiendomsskatten",
                 "ny vannledning til Strand", "skjenketider i sentrum", "trafikksikring av {vei}"]

# Per class: relative share of cases, case titles, journalpost titles, organisations that write.
# "[a|b]" picks one alternative, "{slot}" is filled per case.
CLASSES: dict[str, dict] = {
    "L42": {
        "share": 18,
        "cases": [
            "Byggesak - {gbnr} - {adresse} - {tiltak}",
            "[Søknad om tillatelse til tiltak|Søknad om løyve til tiltak] - {tiltak} - {gbnr}",
            "{adresse} - {gbnr} - {tiltak}",
        ],
        "items": [
            "Søknad om [rammetillatelse|igangsettingstillatelse|løyve i eitt steg] - {tiltak} - {gbnr}",
            "Søknad om tillatelse i ett trinn - {tiltak} - {gbnr}",
            "Nabovarsel - {tiltak} - {adresse}",
            "Nabomerknad til [søknad om|planlagt] {tiltak} - {gbnr}",
            "Søknad om ferdigattest - {gbnr} - {adresse}",
            "Søknad om dispensasjon fra [reguleringsplan|kommuneplanens arealdel|byggegrense mot veg] - {gbnr}",
            "Tilleggsdokumentasjon [til byggesøknad|i byggesaken] - {gbnr}",
            "Situasjonsplan og tegninger - {tiltak} - {adresse}",
            "Søknad om midlertidig brukstillatelse - {gbnr}",
            "Erklæring om ansvarsrett - {tiltak} - {gbnr}",
            "Klage på vedtak om {tiltak} - {gbnr}",
            "Søknad om tilknytning til kommunalt avløp i forbindelse med {tiltak} - {gbnr}",
            "Uttale frå Statens vegvesen - avkøyrsle - {gbnr}",
            "Henvendelse vedrørende {adresse}",
        ],
        "orgs": ["Arkitektkontoret Fjord AS", "Byggmester Løvås AS", "Statens vegvesen", "Norconsult AS"],
    },
    "M10": {
        "share": 8,
        "cases": ["Vannforsyning - {adresse}", "[Vannlekkasje|Lekkasje på vannledning] - {adresse}",
                  "Tilknytning til kommunalt [vann|vatn] - {gbnr}", "Drikkevann - [prøvetaking|kvalitet] {aar}"],
        "items": [
            "Søknad om tilknytning til kommunal [vannledning|vassleidning] - {gbnr}",
            "Melding om vannlekkasje i {adresse}",
            "[Lavt vanntrykk|Dårleg vasstrykk|Brunt vann] i [springen|kranen] - {adresse}",
            "Analyseresultat drikkevann - [prøve|vassprøve] {dato}",
            "Kokevarsel - [spørsmål|klage] fra abonnent i {adresse}",
            "Målerstand vannmåler {aar} - {gbnr}",
            "Søknad om installasjon av vannmåler - {adresse}",
            "Stenging av vannet - {adresse} - {dato}",
            "Søknad om [tilknytning til kommunalt vann og avløp|påkobling vann og avløp] - {gbnr}",
            "Klage på vann- og avløpsgebyr {aar} - {gbnr}",
            "Henvendelse vedrørende {adresse}",
        ],
        "orgs": ["Mattilsynet", "Eurofins Environment Testing Norway AS", "Rørleggermester Ødegård AS",
                 "Norconsult AS"],
    },
    "M20": {
        "share": 8,
        "cases": ["Utslippstillatelse - {gbnr} - {adresse}", "Avløp - {adresse}", "Separering av avløp - {gbnr}",
                  "Tømming av slamavskiller {aar} - {gbnr}"],
        "items": [
            "Søknad om utslippstillatelse for [bolig|fritidsbolig|hytte] - {gbnr}",
            "Søknad om utsleppsløyve - {gbnr}",
            "Tømming av slamavskiller - {adresse}",
            "[Tett|Tilstoppet] [avløp|kloakk] - {adresse}",
            "Melding om kloakklukt ved {adresse}",
            "Tilsyn med mindre avløpsanlegg - {gbnr}",
            "Dokumentasjon av minirenseanlegg - {gbnr}",
            "Søknad om tilknytning til kommunalt avløp - {gbnr}",
            "Søknad om [tilknytning til kommunalt vann og avløp|påkobling vann og avløp] - {gbnr}",
            "Klage på gebyr for slamtømming {aar}",
            "Overvann i kjeller - {adresse}",
            "Utbedring av privat stikkledning - {adresse}",
        ],
        "orgs": ["Rørleggermester Ødegård AS", "Statsforvalteren i Vestland", "Fjellvik Slamtømming AS",
                 "Norconsult AS"],
    },
    "232": {
        "share": 8,
        "cases": ["Eiendomsskatt {aar} - {gbnr}", "Klage på eiendomsskatt - {gbnr}", "Eigedomsskatt {aar} - {gbnr}",
                  "Eiendomsskatt - taksering {adresse}"],
        "items": [
            "Klage på eiendomsskatt {aar} - {gbnr}",
            "Klage på eigedomsskatt - {gbnr} - {adresse}",
            "Krav om ny takst - {gbnr}",
            "Klage på eiendomsskattetakst for {adresse}",
            "Spørsmål om eiendomsskatt for [fritidsbolig|hytte|næringseiendom] {gbnr}",
            "Søknad om fritak for eiendomsskatt - {gbnr}",
            "Feil i [skatteseddel|eiendomsskatteseddel] {aar} - {gbnr}",
            "Endring av eier - {gbnr} - eiendomsskatt",
            "Befaring og taksering - {tiltak} - {gbnr}",
            "Klage på kommunale avgifter og eiendomsskatt {aar}",
            "Henvendelse vedrørende {adresse}",
        ],
        "orgs": ["Skatteetaten", "Advokatfirmaet Hald & Co AS", "Norconsult AS"],
    },
    "U63": {
        "share": 6,
        "cases": ["Skjenkebevilling - {restaurant}", "Skjenkeløyve - {restaurant}",
                  "Ambulerende skjenkebevilling - {arrangement}",
                  "Skjenkebevilling for enkeltanledning - {arrangement}"],
        "items": [
            "Søknad om skjenkebevilling - {restaurant}",
            "Søknad om [skjenkeløyve|sals- og skjenkeløyve] - {restaurant}",
            "Søknad om skjenkebevilling for enkeltanledning - {arrangement} {dato}",
            "Kunnskapsprøve i alkoholloven - {navn}",
            "Endring av styrer og stedfortreder - {restaurant}",
            "Melding om omsetning av alkohol {aar} - {restaurant}",
            "Kontrollrapport skjenkekontroll - {restaurant} - {dato}",
            "Uttalelse fra politiet - {restaurant}",
            "Søknad om utvidet skjenketid - {restaurant}",
            "Søknad om ambulerende skjenkebevilling - {arrangement}",
            "Prikktildeling etter kontroll - {restaurant}",
        ],
        "orgs": ["Politiet i Vest", "Nordic Securitas Kontroll AS", "Måken Drift AS"],
    },
    "A20": {
        "share": 10,
        "cases": ["Barnehageopptak {aar}", "Barnehageplass - {barnehage}", "Tilsyn {barnehage} {aar}",
                  "Redusert foreldrebetaling - barnehage {aar}"],
        "items": [
            "Søknad om barnehageplass - {barnehage}",
            "Søknad om barnehageplass for {barn}",
            "Søknad om redusert foreldrebetaling - {barnehage}",
            "Søknad om gratis kjernetid i barnehage",
            "Oppsigelse av barnehageplass - {barnehage}",
            "Søknad om bytte av barnehage - {barnehage}",
            "Tilsynsrapport - {barnehage} - {dato}",
            "Klage på tildeling av plass {aar}",
            "Søknad om plass i [barnehage|barnehagen] fra {dato}",
            "Søknad om [spesialpedagogisk hjelp|ekstra ressurs] - {barnehage}",
            "Søknad om tilskudd til private barnehager {aar} - {barnehage}",
        ],
        "orgs": ["Private Barnehagers Landsforbund", "Blåbærtuva FUS barnehage AS", "Statsforvalteren i Vestland"],
    },
    "B31": {
        "share": 7,
        "cases": ["Skoleskyss {aar}", "Skoleskyss - {skole}", "Skuleskyss - {skole}", "Farlig skolevei - {vei}"],
        "items": [
            "Søknad om skoleskyss - {skole}",
            "Søknad om skuleskyss - {skole}",
            "Søknad om skyss på grunn av farlig skolevei - {vei}",
            "Søknad om skoleskyss ved delt bosted - {skole}",
            "Søknad om skyss til [skole|skule] etter skade - {skole}",
            "Klage på avslag om skoleskyss - {skole}",
            "Vurdering av trafikkfarlig skoleveg - {vei}",
            "Skysskort [forsvunnet|mistet] - elev ved {skole}",
            "Søknad om skyss til barnehage - {barnehage}",
            "Endring i rute for skolebuss - {vei}",
            "Taxiskyss for elev ved {skole}",
            "Søknad om plass på skolebussen fra {dato}",
        ],
        "orgs": ["Skyss Vestland fylkeskommune", "Fjellvik Taxi AS", "Statens vegvesen"],
    },
    "F00": {
        "share": 8,
        "screened": True,
        "cases": ["Sosialhjelp - {navn}", "Økonomisk sosialhjelp - {navn}", "Midlertidig bolig - {navn}",
                  "Kvalifiseringsprogram - {navn}"],
        "items": [
            "Søknad om økonomisk sosialhjelp - {navn}",
            "Søknad om økonomisk stønad - {navn}",
            "Søknad om nødhjelp - {navn}",
            "Søknad om midlertidig bolig - {navn}",
            "Søknad om [husleiegaranti|depositum] - {navn}",
            "Klage på vedtak om økonomisk stønad - {navn}",
            "Søknad om kvalifiseringsprogram - {navn}",
            "Søknad om støttekontakt - {navn}",
            "Dokumentasjon til søknad om sosialhjelp - {navn}",
            "Budsjett og økonomisk rådgivning - {navn}",
        ],
        "orgs": ["NAV Fjellvik", "Kirkens Bymisjon"],
    },
    "G00": {
        "share": 10,
        "screened": True,
        "cases": ["Helse- og omsorgstjenester - {navn}", "Hjemmesykepleie - {navn}", "Sykehjemsplass - {navn}",
                  "Helse- og omsorgstenester - {navn}"],
        "items": [
            "Søknad om hjemmesykepleie - {navn}",
            "Søknad om [langtidsplass|korttidsplass] på sjukeheim - {navn}",
            "Søknad om sykehjemsplass - {navn}",
            "Søknad om helse- og omsorgstjenester - {navn}",
            "Søknad om trygghetsalarm - {navn}",
            "Søknad om omsorgsstønad - {navn}",
            "Epikrise fra Haukeland universitetssjukehus - {navn}",
            "Legeerklæring - {navn}",
            "Søknad om brukerstyrt personlig assistanse - {navn}",
            "Klage på vedtak om hjemmetjenester - {navn}",
            "Søknad om støttekontakt - {navn}",
            "Søknad om praktisk bistand - {navn}",
            "Melding om utskrivningsklar pasient - {navn}",
        ],
        "orgs": ["Helse Bergen HF", "Fjellvik legesenter AS"],
    },
    "100": {
        "share": 7,
        "cases": ["Tilsetting - {stilling}", "Utlysning - {stilling} {aar}", "Tilsetjing - {stilling}",
                  "Personalsak - {navn}"],
        "items": [
            "Søknad på stilling som {stilling}",
            "Søknad på stilling som {stilling} - {navn}",
            "Søknad om permisjon - {navn}",
            "Oppsigelse av stilling - {navn}",
            "Arbeidsavtale - {stilling}",
            "Søknad om redusert stilling - {navn}",
            "Politiattest - {stilling}",
            "Sykmelding - {navn}",
            "Referanser - {stilling}",
            "Søknad om utdanningspermisjon",
            "Innstilling - {stilling} {aar}",
        ],
        "orgs": ["Fagforbundet Fjellvik", "Utdanningsforbundet", "KS Agenda"],
    },
    "075": {
        "share": 5,
        "cases": ["Innsynskrav {aar}", "Innsyn - {media}", "Innsynsbegjæring {aar}"],
        "items": [
            "Krav om innsyn i [postliste|journal] {dato}",
            "Innsynskrav - {tema}",
            "Begjæring om innsyn i {tema}",
            "Klage på avslag på innsyn - {tema}",
            "Innsyn i dokumenter om {tema}",
            "Krav om innsyn etter offentleglova - {tema}",
            "Innsynskrav frå {media} - {tema}",
        ],
        "orgs": ["Fjellvik Avis AS", "NRK", "Bergens Tidende AS"],
    },
    "033": {
        "share": 5,
        "cases": ["Møter i {utvalg} {aar}", "Møteplan {utvalg} {aar}", "Valg av medlemmer til {utvalg}",
                  "Innbyggerforslag - {politikk}"],
        "items": [
            "Møteinnkalling {utvalg} {dato}",
            "Protokoll fra møte i {utvalg} {dato}",
            "Søknad om fritak fra politiske verv - {navn}",
            "Spørsmål til ordføreren om {politikk}",
            "Interpellasjon til kommunestyret - {politikk}",
            "Innbyggerforslag om {politikk}",
            "Melding om forfall - {utvalg} {dato}",
            "Møtebok - {utvalg}",
            "Valg av meddommere {aar}",
            "Uttalelse fra {utvalg} om {politikk}",
            "Saksdokumenter til {utvalg} {dato}",
        ],
        "orgs": ["Fjellvik Arbeiderparti", "Fjellvik Høyre", "Fjellvik Senterparti", "Statsforvalteren i Vestland"],
    },
}
# Follow-up mail often says nothing about its subject; only its case does.
GENERIC = ["Tilleggsopplysninger til søknad", "Ettersending av dokumentasjon", "Purring - svar på henvendelse",
           "Svar på brev av {dato}", "Klage på vedtak", "Vedlegg til søknad", "Spørsmål om saksbehandlingstid",
           "Fullmakt", "Kopi av brev", "Henvendelse fra {navn}", "Korrigert søknad", "Endring av kontaktopplysninger"]
# Too little history to learn: listed as excluded in the training report.
RARE = {
    "070": ["Henvendelse om kommunens nettside", "Pressemelding - {politikk}", "Forespørsel om intervju"],
    "000": ["Henvendelse til kommunen", "Spørsmål", "Takk for hjelpen", "Diverse", "Til postmottak"],
}
# Names in titles of these classes are masked in the public title (offentligTittel).
SCREENED_CLASSES = {"F00", "G00", "100"}

SKJERMINGSHJEMMEL = "Offl. § 13 jf. fvl. § 13 første ledd nr. 1"
CASE_SIZES = ([1] * 55) + ([2] * 25) + ([3] * 12) + ([4] * 8)


@dataclass
class History:
    store: Store
    arkivskaper_id: int
    eligible: Counter = field(default_factory=Counter)  # klasseID -> journalposts training must read
    excluded: int = 0  # journalposts training must not read
    screened: int = 0  # eligible journalposts whose title is screened


def _gbnr(rng: random.Random) -> str:
    g, b = rng.randint(1, 140), rng.randint(1, 420)
    return rng.choice([f"gnr. {g} bnr. {b}", f"gnr {g}/{b}", f"{g}/{b}", f"GBNR {g}/{b}", f"gnr. {g}, bnr. {b}",
                       f"g/bnr {g}/{b}", f"Gnr {g} Bnr {b}"])


def _dato(rng: random.Random) -> str:
    day = date(2024, 1, 1) + timedelta(days=rng.randint(0, 729))
    months = ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
              "november", "desember"]
    return rng.choice([day.strftime("%d.%m.%Y"), f"{day.day}. {months[day.month - 1]} {day.year}", day.isoformat()])


def _slots(rng: random.Random, klasse: str) -> dict[str, str]:
    """One case's facts: every item in the case speaks of the same property, person, place."""
    surnames = SCREENED_SURNAMES if klasse in SCREENED_CLASSES else PUBLIC_SURNAMES
    slots = {
        "gbnr": _gbnr(rng),
        "adresse": f"{rng.choice(STREETS)} {rng.randint(1, 120)}{rng.choice(['', '', '', 'A', 'B'])}",
        "navn": f"{rng.choice(FIRST_NAMES)} {rng.choice(surnames)}",
        "barn": f"{rng.choice(CHILDREN)} {rng.choice(PUBLIC_SURNAMES)}",
        "aar": str(rng.choice([2024, 2025])),
        "dato": _dato(rng),
        "tiltak": rng.choice(TILTAK),
        "barnehage": rng.choice(BARNEHAGER),
        "skole": rng.choice(SKOLER),
        "vei": rng.choice(ROADS),
        "restaurant": rng.choice(RESTAURANTER),
        "stilling": rng.choice(STILLINGER),
        "utvalg": rng.choice(UTVALG),
    }
    # Second-level slots refer to the first-level ones.
    for name, choices in (("arrangement", ARRANGEMENT), ("media", MEDIA), ("tema", TEMA_INNSYN),
                          ("politikk", TEMA_POLITIKK)):
        slots[name] = rng.choice(choices).format(**slots)
    return slots


def _fill(template: str, slots: dict[str, str], rng: random.Random) -> str:
    chosen = re.sub(r"\[([^\]]+)\]", lambda m: rng.choice(m.group(1).split("|")), template)
    return chosen.format(**slots)


def _vary(title: str, rng: random.Random) -> str:
    """What people do to a subject line: typos, lost æøå, shouting, forwarding."""
    if rng.random() < 0.12:
        words = [i for i, w in enumerate(title.split(" ")) if len(w) > 4]
        if words:
            parts = title.split(" ")
            i = rng.choice(words)
            w, j = parts[i], rng.randrange(1, len(parts[i]) - 1)
            parts[i] = rng.choice([w[:j] + w[j + 1:], w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j] + w[j:]])
            title = " ".join(parts)
    if rng.random() < 0.08:
        table = rng.choice([{"æ": "ae", "ø": "o", "å": "a"}, {"æ": "ae", "ø": "oe", "å": "aa"}])
        title = "".join(table.get(c.lower(), c) for c in title)
    roll = rng.random()
    if roll < 0.04:
        title = title.upper()
    elif roll < 0.14:
        title = title.lower()
    if rng.random() < 0.1:
        title = title.replace(" - ", rng.choice([", ", " – ", " ", ": "]))
    if rng.random() < 0.08:
        title = rng.choice(["Sv: ", "SV: ", "VS: ", "Fwd: ", "RE: "]) + title
    return title


def _sender(rng: random.Random, orgs: list[str], slots: dict[str, str]) -> Party:
    if rng.random() < 0.35:
        org = rng.choice(orgs) if rng.random() < 0.85 else rng.choice(rng.choice(list(CLASSES.values()))["orgs"])
        return Party(name=org, organisasjonsnummer=f"9{rng.randint(10_000_000, 99_999_999)}",
                     email="post@example.no")
    first = slots["navn"].split(" ")[0]
    return Party(name=f"{first} {rng.choice(PUBLIC_SURNAMES)}", email="innbygger@example.no")


def build_history(
    tmp_path: Path,
    *,
    n_cases: int = 560,
    seed: int = 20251,
    store: Store | None = None,
    creator: ArkivskaperSettings | None = None,
) -> History:
    """The history in a store of its own under tmp_path, or in `store` for `creator` (an installation's)."""
    rng = random.Random(seed)
    store = store or Store.open(f"sqlite:///{tmp_path}/s.sqlite")
    creator = creator or ArkivskaperSettings(
        kode="fjellvik",
        navn="Fjellvik kommune",
        inbox=tmp_path / "inbox",
        quarantine=tmp_path / "quarantine",
        arkiv=ArkivSettings(tittel="Fjellvik kommunes arkiv"),
        arkivdel=ArkivdelSettings(tittel="Sakarkiv Fjellvik kommune 2024-", start=date(2024, 1, 1)),
        klassifikasjonssystem=KlassifikasjonssystemSettings(klasser=load_klasser_csv(K_KODER), default_klasse="000"),
    )
    codes = list(CLASSES)
    shares = [CLASSES[k]["share"] for k in codes]
    plan: list[tuple[str, list[str], list[str]]] = []  # (klasseID, case title templates, item templates)
    for _ in range(n_cases):
        klasse = rng.choices(codes, shares)[0]
        plan.append((klasse, CLASSES[klasse]["cases"], CLASSES[klasse]["items"]))
    plan += [("070", ["Informasjon og kommunikasjon {aar}"], RARE["070"])] * 2
    plan += [("000", ["Generelle henvendelser {aar}"], RARE["000"])] * 5
    rng.shuffle(plan)

    with store.write(ACTOR) as session:
        started = datetime(2024, 1, 2, 8, tzinfo=UTC)
        structure = ensure_structure(session, creator, ACTOR, started)
        history = History(store=store, arkivskaper_id=structure.arkivskaper_id)
        for number, (klasse, case_templates, item_templates) in enumerate(plan):
            slots = _slots(rng, klasse)
            orgs = CLASSES[klasse]["orgs"] if klasse in CLASSES else ["Fjellvik Avis AS"]
            size = {"000": 1, "070": 2}.get(klasse) or rng.choice(CASE_SIZES)
            opened = started + timedelta(days=rng.randint(0, 700), minutes=rng.randint(0, 600))
            # Some new cases were never reviewed (M), and one in fifty was opened by mistake (Utgår).
            fate = "journaled"
            if klasse in CLASSES:
                fate = rng.choices(["journaled", "unreviewed", "cancelled"], [93, 5, 2])[0]
            screened = klasse in SCREENED_CLASSES
            name = slots["navn"]
            saksmappe = None
            for item in range(size if fate == "journaled" else 1):
                templates = GENERIC if rng.random() < (0.25 if item else 0.06) else item_templates
                # The name goes in after the typos, so the public title can mask it exactly.
                varied = _vary(_fill(rng.choice(templates), {**slots, "navn": "@@"}, rng), rng)
                title, public_title = varied.replace("@@", name), varied.replace("@@", MASK)
                if fate != "journaled" or (item > 0 and rng.random() < 0.04):
                    title = f"{title} {EXCLUDED_MARKER}"
                submission = Submission(
                    source=Source.email,
                    origin_name=f"{number}-{item}.eml",
                    sender=_sender(rng, orgs, slots),
                    subject=title,
                    body_text=f"Deres ref: {saksmappe.mappeID}" if saksmappe is not None else "Hei,\nse vedlegg.",
                    received=opened + timedelta(days=9 * item),
                )
                journalpost, placement = journal_submission(
                    session, structure, submission, [], actor=ACTOR, now=opened + timedelta(days=9 * item)
                )
                if (placement.saksmappe is None) != (item == 0):
                    raise AssertionError(f"template quoted a case number by accident: {title!r}")
                saksmappe = journalpost.saksmappe
                if item == 0 and fate != "unreviewed":
                    # The archivist's review: class and case title decided.
                    saksmappe.klasse_id = structure.klasse_ids[klasse]
                    saksmappe.tittel = _fill(rng.choice(case_templates), slots, rng)
                if fate == "unreviewed":
                    history.excluded += 1
                    continue
                if fate == "cancelled":
                    # Only the case says so: its journalpost stays Journalført.
                    saksmappe.saksstatus = Saksstatus.utgaar.value
                    journalpost.journalstatus = Journalstatus.journalfoert.value
                    history.excluded += 1
                    continue
                if EXCLUDED_MARKER in title:
                    journalpost.journalstatus = Journalstatus.utgaar.value
                    history.excluded += 1
                    continue
                journalpost.journalstatus = rng.choices(
                    [Journalstatus.journalfoert, Journalstatus.arkivert, Journalstatus.ferdigstilt_fra_saksbehandler],
                    [85, 10, 5],
                )[0].value
                history.eligible[klasse] += 1
                if screened:
                    for entity in (journalpost, saksmappe):
                        entity.tilgangsrestriksjon = "13"
                        entity.skjermingshjemmel = SKJERMINGSHJEMMEL
                    journalpost.offentligTittel = public_title
                    saksmappe.offentligTittel = saksmappe.tittel.replace(name, MASK)
                    journalpost.skjermingMetadata = "Skjerming tittel registrering - utvalgte ord"
                    saksmappe.skjermingMetadata = "Skjerming tittel mappe - utvalgte ord"
                    history.screened += 1
    return history
