"""The official XML schemas shipped with noarkpipe, loaded offline.

The XSDs are kept byte-identical to the published ones (depots compare their
checksums), so the remote xlink import of the DIAS schemas is redirected to
the local copy by a resolver instead of editing the files.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from lxml import etree

from noarkpipe.errors import MissingDependencyError, SchemaValidationError

XLINK_REMOTE = "http://www.loc.gov/standards/xlink/xlink.xsd"
MANIFEST_NAME = "SHA256SUMS"

NOARK5_VERSIONS = ("v5.0", "v4.0", "v3.1")
# The shipped folders of each version, current revision first: v5.0 as revised
# in 2023-11 ("5.5.0") and the 2019 revision many tools still embed. An extract
# made against either is a v5.0 extract; what noarkpipe writes is valid against both.
NOARK5_REVISIONS = {"v5.0": ("v5.0", "v5.0-2019"), "v4.0": ("v4.0",), "v3.1": ("v3.1",)}


def schemas_dir() -> Path:
    """The folder holding the official schemas (wheel install or source checkout)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "schemas", package.parents[1] / "schemas"):
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    raise MissingDependencyError(
        "the official schemas folder was not found next to the noarkpipe package",
        hint="reinstall noarkpipe (pip install .) or run from a full checkout",
    )


def schema_path(relative: str) -> Path:
    return schemas_dir() / relative


def noark5_schema(name: str, version: str = "v5.0") -> str:
    """Relative path of a Noark 5 schema, e.g. noark5_schema('arkivstruktur')."""
    return f"noark5/{version}/{name}.xsd"


def noark5_revisions(name: str, version: str) -> tuple[str, ...]:
    """Relative paths of every shipped revision of a Noark 5 schema, current first."""
    return tuple(f"noark5/{folder}/{name}.xsd" for folder in NOARK5_REVISIONS[version])


def noark5_version_of(relative: str) -> str | None:
    """'noark5/v5.0-2019/arkivstruktur.xsd' -> 'v5.0'; None for what is not a Noark 5 schema."""
    parts = relative.split("/")
    if len(parts) != 3 or parts[0] != "noark5":
        return None
    return next((version for version, folders in NOARK5_REVISIONS.items() if parts[1] in folders), None)


class _OfflineResolver(etree.Resolver):
    def resolve(self, system_url, public_id, context):
        if system_url == XLINK_REMOTE:
            return self.resolve_filename(str(schema_path("dias/xlink.xsd")), context)
        return None


def safe_parser(**options) -> etree.XMLParser:
    """A parser that never touches the network and never expands entities."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, **options
    )


@cache
def xml_schema(relative: str) -> etree.XMLSchema:
    """The lxml XMLSchema for a shipped schema, e.g. 'noark5/v5.0/arkivstruktur.xsd'."""
    parser = safe_parser()
    parser.resolvers.add(_OfflineResolver())
    doc = etree.parse(str(schema_path(relative)), parser)
    return etree.XMLSchema(doc)


def validation_problems(doc: etree._ElementTree | etree._Element, relative: str) -> list[str]:
    """Every schema violation as 'line N: /path: message'; empty when valid."""
    schema = xml_schema(relative)
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.path}: {e.message}" for e in schema.error_log]


def assert_valid(doc: etree._ElementTree | etree._Element, relative: str) -> None:
    problems = validation_problems(doc, relative)
    if problems:
        raise SchemaValidationError(relative, problems)


def read_manifest(root: Path | None = None) -> dict[str, str]:
    """relative path -> sha256 as shipped in schemas/SHA256SUMS."""
    entries = {}
    for line in ((root or schemas_dir()) / MANIFEST_NAME).read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.strip()] = digest
    return entries


def altered_schemas(root: Path | None = None) -> list[str]:
    """Shipped schemas whose bytes no longer match the manifest."""
    root = root or schemas_dir()
    altered = []
    for name, digest in read_manifest(root).items():
        path = root / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            altered.append(name)
    return altered
