"""Export: a closed arkivdel as a Noark 5 v5.0 extract, packed as a DIAS transfer package.

The stage's one entry point is `export_package` (options: `ExportOptions`);
`package.py` says in what order the work is done and why. The extract's
parts each have their module: `arkivstruktur` (the structure, streamed
per saksmappe through the Noark 5 model), `journals` (endringslogg,
løpende and offentlig journal), `addml` (arkivuttrekk.xml), `documents`
(which document variants go in, their names and formats), `dias` (METS,
PREMIS, the submission description, info.xml), `tarstream` (the tar,
hashed as it is written), `noarkpipe.xml.streaming` (streaming schema validation) and
`source` (reading the store a page at a time).
"""

from noarkpipe.export.package import ExportOptions, ExportResult, export_package

__all__ = ["ExportOptions", "ExportResult", "export_package"]
