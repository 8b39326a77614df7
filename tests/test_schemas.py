import hashlib
import shutil
from pathlib import Path

import pytest
from lxml import etree

from noarkpipe.xml import schemas

SHARED = Path(__file__).resolve().parents[2] / "shared" / "schemas"


def test_manifest_lists_every_shipped_xsd_and_matches():
    root = schemas.schemas_dir()
    shipped = {p.relative_to(root).as_posix() for p in root.rglob("*.xsd")}
    assert set(schemas.read_manifest()) == shipped
    assert len(shipped) == 27
    assert schemas.altered_schemas() == []


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/ not beside this checkout")
def test_shipped_schemas_are_byte_identical_to_the_official_copies():
    root = schemas.schemas_dir()
    for official in SHARED.rglob("*.xsd"):
        relative = official.relative_to(SHARED).as_posix()
        assert hashlib.sha256((root / relative).read_bytes()).digest() == hashlib.sha256(
            official.read_bytes()
        ).digest(), relative


def test_a_changed_byte_is_reported_as_altered(tmp_path):
    copy = tmp_path / "schemas"
    shutil.copytree(schemas.schemas_dir(), copy)
    target = copy / "noark5/v5.0/arkivstruktur.xsd"
    target.write_bytes(target.read_bytes().replace(b"Noark 5", b"Noark 6", 1))
    assert schemas.altered_schemas(copy) == ["noark5/v5.0/arkivstruktur.xsd"]


@pytest.mark.parametrize("relative", sorted(schemas.read_manifest()))
def test_every_schema_compiles_offline(relative):
    # no_network parsers: the remote xlink import of the DIAS schemas must resolve locally.
    assert isinstance(schemas.xml_schema(relative), etree.XMLSchema)


def test_dias_schemas_need_the_xlink_redirect():
    # Without the resolver the remote import cannot load and the schema does not compile,
    # so the compile test above proves the local xlink.xsd is used.
    doc = etree.parse(str(schemas.schema_path("dias/dias-mets.xsd")), schemas.safe_parser())
    with pytest.raises(etree.XMLSchemaParseError):
        etree.XMLSchema(doc)


def test_safe_parser_does_not_expand_entities(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xml = f'<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]><x>&e;</x>'.encode()
    root = etree.fromstring(xml, schemas.safe_parser())
    assert b"TOPSECRET" not in etree.tostring(root)
