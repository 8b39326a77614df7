"""One streaming pass over an XML file: schema validation, counts and entity events for the checks.

Every check family needs something from arkivstruktur.xml, which can be
several GB. The file is read once: lxml's pull parser is fed 64 kB blocks
with the official schema plugged into the parser (libxml2 validates as the
elements stream past; no document tree is kept), and only the *entities*
the families care about (arkivdel, klasse, mappe, registrering,
dokumentobjekt, journalregistrering, endring, ...) produce events. Each is
handed to its subscribers as a `Frame`: its leaf values, xsi:type, the line
it starts on, its element path and how many child entities of each kind it
had. When an entity ends, it and what came before it in its parent are
freed, so memory is bounded by the depth of the XML and the size of one
entity, not by the file.

Leaf values are read from the tree, not from events: a parent's leaves
before a child entity are read when that child starts (they are complete
by then), the rest when the parent ends. An event per element, the first
version, made the whole pass over 100 000 registrations take about 35 s of
CPU; entity events only, 14 s (the parse and schema validation alone: 9.7 s).

Why this parser and not another (measured on this machine, a v5.0
arkivstruktur.xml of 100 000 registrations, 322 MB, 13.6 M elements):

- lxml pull parser, no schema: 9.5 s, 23 MB peak RSS.
- the same with the schema plugged in: 9.7 s, 23 MB (validation is nearly free).
- full tree + XMLSchema.validate: 6.0 s but 1.8 GB peak RSS, growing with the file.
- xmlschema (pure Python) lazy iter_errors: 9.2 s on a tenth of the file
  (10 000 registrations), 259 MB: about 90 times slower.

libxml2 reports streaming validation errors without a line. Each is placed
on the element its message names, looked up in the part of the tree that
is still in memory: the element with that name (and, for a value error,
that value) in the block just parsed, after the previous error's element.
A file with more schema errors than `MAX_SCHEMA_ERRORS` is read again
without the schema (the errors already found stay reported), because
libxml2 keeps every error in memory.

Files no family subscribes to (log.xml, dias-premis.xml, ...) are read in
a plain mode: every element is an event and is freed as it ends.

Security: no DTD is loaded, no entity is expanded, nothing is fetched; a
DOCTYPE, entity declarations and external identifiers are reported, not
followed. Text nodes above 10 MB (libxml2's limit without huge_tree) make
the file not well-formed rather than exhausting memory.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

from noarkpipe.validate.messages import Message, joined, msg
from noarkpipe.validate.source import ReadStream

CHUNK = 64 * 1024
CONTENT_CHUNK = 1024 * 1024
"""Without a schema no error needs placing in the block just parsed, so blocks can be larger (fewer feeds)."""
MAX_SCHEMA_ERRORS = 1000
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
KNOWN_ROOTS = ("arkiv", "loependeJournal", "offentligJournal", "endringslogg", "addml", "mets", "premis", "info")
DISCARDED = ("virksomhetsspesifikkeMetadata",)
"""Free-form subtrees freed as soon as they end, so one huge entity cannot hold them in memory."""
_ELEMENT_IN_MESSAGE = re.compile(r"^Element '([^']+)'")
_VALUE_IN_MESSAGE = re.compile(r"^Element '[^']+': '((?:[^']|'(?!\s))*)' is not")


class Counts(dict):
    """Child entities of a frame by name; 0 for a name not seen (a Counter, without its costly __init__)."""

    __slots__ = ()

    def __missing__(self, key: str) -> int:
        return 0


class Frame:
    """An entity element met in the stream: its leaf values, type, line, path and child counts."""

    __slots__ = (
        "_path",
        "attrib",
        "children",
        "depth",
        "element",
        "fields",
        "file",
        "index",
        "line",
        "lists",
        "name",
        "parent",
        "type",
    )

    def __init__(
        self, name: str, type_: str | None, line: int | None, parent: Frame | None, index: int, depth: int,
        file: str, element: etree._Element, attrib: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.type = type_
        self.line = line
        self.parent = parent
        self.index = index
        self.depth = depth
        self.file = file
        self.element = element
        self.fields: dict[str, str] = {}
        self.lists: dict[str, list[str]] | None = None
        """Every value of a leaf that may repeat (Subscriptions.repeat); `fields` holds only the first."""
        self.children: Counts = Counts()
        self.attrib = attrib
        self._path: str | None = None

    def path(self) -> str:
        """The element path, e.g. /arkiv/arkivdel[1]/klassifikasjonssystem[1]/klasse[3]/mappe[12]."""
        if self._path is None:
            parent = self.parent
            self._path = f"{parent.path()}/{self.name}[{self.index}]" if parent is not None else f"/{self.name}"
        return self._path

    def get(self, name: str, default: str = "") -> str:
        value = self.fields.get(name)
        return value.strip() if value else default

    def ancestor(self, name: str) -> Frame | None:
        frame = self.parent
        while frame is not None and frame.name != name:
            frame = frame.parent
        return frame


@dataclass
class XmlProblem:
    kind: str
    """'not_well_formed', 'schema', 'unsafe' or 'schema_capped'."""
    line: int | None
    path: str
    message: Message
    """libxml2's own words framed by ours: 'schema error: {error}' (see messages.py)."""


@dataclass
class XmlOutcome:
    well_formed: bool = True
    root: str = ""
    namespace: str = ""
    counts: Counter = field(default_factory=Counter)
    """Occurrences of each entity and counted element (all elements in plain mode)."""
    schema_errors: int = 0
    schema_capped: bool = False
    bytes: int = 0


Handler = Callable[[Frame], None]


@dataclass
class Subscriptions:
    """Which entities of one file are wanted, and who is told when they start and end.

    Start handlers see the frame's type, line, path and parent, but no leaf values yet.
    """

    entities: set[str] = field(default_factory=set)
    on_start: dict[str, list[Handler]] = field(default_factory=dict)
    on_end: dict[str, list[Handler]] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)
    repeated: set[str] = field(default_factory=set)
    keep_attributes: bool = False

    def start(self, entity: str, handler: Handler) -> None:
        self.entities.add(entity)
        self.on_start.setdefault(entity, []).append(handler)

    def end(self, entity: str, handler: Handler) -> None:
        self.entities.add(entity)
        self.on_end.setdefault(entity, []).append(handler)

    def track(self, entities: Iterable[str]) -> None:
        """Entities that get frames (leaf values, child counts) without a subscriber of their own."""
        self.entities.update(entities)

    def count(self, elements: Iterable[str]) -> None:
        """Elements to count (XmlOutcome.counts) without making frames of them."""
        self.counted.update(elements)

    def repeat(self, leaves: Iterable[str]) -> None:
        """Leaves that may occur several times in an entity: every value kept in Frame.lists."""
        self.repeated.update(leaves)


def walk(
    open_stream: Callable[[], ReadStream],
    file: str,
    subscriptions: Subscriptions,
    schema: etree.XMLSchema | None,
    report: Callable[[XmlProblem], None],
    progress: Callable[[int], None] | None = None,
) -> XmlOutcome:
    """Stream the XML file once (twice if the schema errors overflow) and dispatch its entities."""
    outcome = XmlOutcome()
    state = _Pass(file, subscriptions, report, outcome, progress)
    with open_stream() as stream:
        finished = state.run(stream, schema, skip=0)
    if state.unexplained_failure:
        # libxml2 with a schema plugged in can stop on a fatal error without saying which;
        # a plain parse of the same bytes finds it (only broken files pay for this)
        report(_diagnose(open_stream))
    if not finished:
        outcome.schema_capped = True
        report(_capped())
        dispatched = state.events
        outcome.bytes = 0
        state = _Pass(file, subscriptions, report, outcome, None)
        with open_stream() as stream:
            state.run(stream, None, skip=dispatched)
    return outcome


def place_schema_errors(
    open_stream: Callable[[], ReadStream],
    file: str,
    subscriptions: Subscriptions,
    schema: etree.XMLSchema,
    report: Callable[[XmlProblem], None],
    outcome: XmlOutcome,
) -> int:
    """Read a file again with the schema plugged in, to report each schema error on its line and path.

    For a file the reading process (reader.py) found invalid: its entities were dispatched by the
    first pass (`walk` without a schema), so here none is, and nothing is counted; only the schema
    errors (and the note when they overflow) are reported, into `outcome`. The entities are still
    tracked, as the element paths are built from them. Returns the bytes read.
    """
    placing = XmlOutcome()

    def keep(problem: XmlProblem) -> None:
        # well-formedness was judged by the first pass; only libxml2's silent stop with a schema is news
        if problem.kind == "schema" or (problem.kind == "not_well_formed" and outcome.well_formed):
            report(problem)

    state = _Pass(file, subscriptions, keep, placing, None)
    state.placing = True
    with open_stream() as stream:
        finished = state.run(stream, schema, skip=sys.maxsize)
    if state.unexplained_failure and outcome.well_formed:
        report(_diagnose(open_stream))
        outcome.well_formed = False
    outcome.schema_errors = placing.schema_errors
    if not finished:
        outcome.schema_capped = True
        report(_capped())
    return placing.bytes


def _capped() -> XmlProblem:
    return XmlProblem("schema_capped", None, "", msg(
        "more than {limit} schema errors: validation stopped there, the rest of the file was read for the other "
        "checks", limit=MAX_SCHEMA_ERRORS))


class _Pass:
    def __init__(self, file, subscriptions: Subscriptions, report, outcome: XmlOutcome, progress) -> None:
        self.file = file
        self.subs = subscriptions
        self.report = report
        self.outcome = outcome
        self.progress = progress
        self.events = 0
        self.local: dict[str, str] = {}
        self.frames: list[Frame] = []
        self.depth = 0
        self.unexplained_failure = False
        self.root_seen = False
        self.root_element = None
        self.plain = not subscriptions.entities
        self.lines_before = 1
        self.last_match: dict[str, object] = {}
        self.chunk_frames: dict[int, Frame] = {}
        self.placing = False
        self.validating = False
        """A schema is plugged into this pass: frames are kept by element for placing its errors."""
        """Place every schema error, though no entity is dispatched (place_schema_errors)."""

    def _local(self, tag) -> str:
        name = self.local.get(tag)
        if name is None:
            name = self.local[tag] = tag.rpartition("}")[2] if isinstance(tag, str) else ""
        return name

    def run(self, stream: ReadStream, schema, skip: int) -> bool:
        options = {"events": ("start", "end"), "resolve_entities": False, "no_network": True, "load_dtd": False,
                   "huge_tree": False, "remove_comments": True, "remove_pis": True}
        if not self.plain:
            wanted = self.subs.entities | self.subs.counted | set(KNOWN_ROOTS) | set(DISCARDED)
            options["tag"] = ["{*}" + name for name in sorted(wanted)]
        if schema is not None:
            options["schema"] = schema
        self.validating = schema is not None
        parser = etree.XMLPullParser(**options)
        seen_log = 0
        while True:
            chunk = stream.read(CHUNK if schema is not None else CONTENT_CHUNK)
            if not chunk:
                break
            self.outcome.bytes += len(chunk)
            if self.progress is not None:
                self.progress(len(chunk))
            try:
                parser.feed(chunk)
            except etree.XMLSyntaxError as exc:
                self._release(self._drain(list(parser.read_events()), skip))
                self._not_well_formed(exc)
                return True
            events = list(parser.read_events())
            self.chunk_frames = {}
            self.last_match = {}
            ended = self._drain(events, skip)
            if schema is not None:
                log = parser.feed_error_log
                if len(log) > seen_log:
                    errors = [entry for entry in list(log)[seen_log:] if entry.domain_name == "SCHEMASV"]
                    seen_log = len(log)
                    if errors and (self.placing or self.events > skip):
                        self._place(errors, ended)
            self._release(ended)
            if schema is not None:
                self.lines_before += chunk.count(b"\n")
            if schema is not None and self.outcome.schema_errors >= MAX_SCHEMA_ERRORS:
                return False
        try:
            root = parser.close()
        except etree.XMLSyntaxError as exc:
            log = parser.feed_error_log
            if schema is not None and not any(entry.domain_name != "SCHEMASV" for entry in log):
                if not len(log) or self.frames or self.depth:
                    self.outcome.well_formed = False
                    self.unexplained_failure = True
                return True
            self._not_well_formed(exc)
            return True
        if not self.root_seen and root is not None:
            self._root(root, skip == 0)
        if self.frames or self.depth:
            self._not_well_formed(None)
        return True

    # -- events -----------------------------------------------------------------------------

    def _drain(self, events: list, skip_until: int) -> list:
        """Dispatch one block's events; returns the elements that ended, to be freed after error placing."""
        ended = []
        name: str | None
        if self.plain:
            for event, element in events:
                self.events += 1
                name = self._local(element.tag)
                if event == "start":
                    self.depth += 1
                    if self.depth == 1:
                        self._root(element, self.events > skip_until)
                        self.root_element = element
                    if self.events > skip_until:
                        self.outcome.counts[name] += 1
                else:
                    self.depth -= 1
                    ended.append(element)
            return ended
        subs = self.subs
        entities, counted = subs.entities, subs.counted
        on_start, on_end = subs.on_start, subs.on_end
        keep_attributes = subs.keep_attributes
        counts = self.outcome.counts
        frames = self.frames
        local = self.local
        capture = self._capture
        file = self.file
        chunk_frames = self.chunk_frames if self.validating else None
        top = frames[-1] if frames else None
        seen = self.events
        for event, element in events:
            seen += 1
            live = seen > skip_until
            tag = element.tag
            name = local.get(tag)
            if name is None:
                name = self._local(tag)
            if event == "start":
                if live and (name in entities or name in counted):
                    counts[name] += 1
                if not self.root_seen:
                    self._root(element, live)
                    self.root_element = element
                elif name not in entities:
                    continue
                if top is not None:
                    capture(top, element)
                    children = top.children
                    index = children[name] = children[name] + 1
                else:
                    index = 1
                xsi_type = element.get(XSI_TYPE)
                if xsi_type:
                    xsi_type = xsi_type.rpartition(":")[2]
                top = Frame(name, xsi_type, element.sourceline, top, index, len(frames) + 1, file, element,
                            dict(element.attrib) if keep_attributes else None)
                frames.append(top)
                if chunk_frames is not None:
                    chunk_frames[id(element)] = top
                if live and name in on_start:
                    for handler in on_start[name]:
                        handler(top)
            elif top is not None and element is top.element:
                frame = frames.pop()
                top = frames[-1] if frames else None
                capture(frame)
                if live and name in on_end:
                    for handler in on_end[name]:
                        handler(frame)
                ended.append(element)
            elif name in DISCARDED:
                ended.append(element)
        self.events = seen
        self.depth = len(frames)
        return ended

    def _capture(self, frame: Frame, stop=None) -> None:
        """Read leaf values of the frame from the tree, each leaf once.

        With `stop` (a child entity that just started): the leaves between the previous child entity
        and `stop`, complete by now and freed with the previous child. Without (the frame ended): the
        leaves after its last child entity, or all of them if it had none.

        This runs for every leaf of every entity (millions), so it is written for speed: each
        element's tag is looked up once, and the common case (no repeated leaves, no attributes
        kept) has a loop of its own.
        """
        names = self.local
        if stop is None and not frame.children:
            leaves = frame.element
        else:
            entities = self.subs.entities
            siblings = stop.itersiblings(preceding=True) if stop is not None else \
                frame.element.iterchildren(reversed=True)
            leaves = []
            for child in siblings:
                tag = child.tag
                name = names.get(tag)
                if name is None:
                    name = self._local(tag)
                if name in entities:
                    break
                leaves.append(child)
            leaves.reverse()
        fields = frame.fields
        keep_attributes = self.subs.keep_attributes
        repeated = self.subs.repeated
        if not keep_attributes:
            for child in leaves:
                tag = child.tag
                name = names.get(tag)
                if name is None:
                    name = self._local(tag)
                if name in repeated and not len(child):
                    if frame.lists is None:
                        frame.lists = {}
                    frame.lists.setdefault(name, []).append((child.text or "").strip())
                if name in fields or not name or len(child):
                    continue
                text = child.text
                fields[name] = text if text is not None else ""
            return
        for child in leaves:
            tag = child.tag
            name = names.get(tag) or self._local(tag)
            if repeated and name in repeated and not len(child):
                if frame.lists is None:
                    frame.lists = {}
                frame.lists.setdefault(name, []).append((child.text or "").strip())
            if name in fields or not name or len(child):
                continue
            text = child.text
            fields[name] = text if text is not None else ""
            if len(child.attrib):
                frame.attrib = {**(frame.attrib or {}),
                                **{f"{name}@{key}": value for key, value in child.attrib.items()}}

    def _release(self, ended: list) -> None:
        """Free entities that ended, with everything before them in their parent (already read)."""
        for element in ended:
            element.clear(keep_tail=False)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]

    def _root(self, element, live: bool) -> None:
        self.root_seen = True
        tag = element.getroottree().getroot().tag
        tag = tag if isinstance(tag, str) else ""
        self.outcome.root = self._local(tag)
        self.outcome.namespace = tag[1:].partition("}")[0] if tag.startswith("{") else ""
        if not live:
            return
        info = element.getroottree().docinfo
        if info.internalDTD is not None or info.system_url or info.public_id:
            declared = []
            if info.internalDTD is not None:
                for entity in info.internalDTD.iterentities():
                    external = entity.system_url or ""
                    declared.append(msg("{entity} (external: {url})", entity=entity.name, url=external)
                                    if external else entity.name)
            detail = (msg("entities declared: {entities}", entities=joined(", ", declared)) if declared
                      else msg("no entities declared"))
            if info.system_url:
                detail = msg("{detail}; external DTD {url}", detail=detail, url=info.system_url)
            self.report(XmlProblem("unsafe", 1, "", msg(
                "DOCTYPE found ({detail}); nothing in it was loaded, expanded or fetched. Noark 5 extracts must not "
                "carry a DOCTYPE", detail=detail)))

    # -- schema errors ----------------------------------------------------------------------

    def _place(self, errors: list, ended: list) -> None:
        """Report each schema error on the element its message names (see the module docstring)."""
        root = self.root_element
        for entry in errors:
            self.outcome.schema_errors += 1
            if self.outcome.schema_errors > MAX_SCHEMA_ERRORS:
                continue
            element = self._find(root, entry.message) if root is not None else None
            line, path = None, ""
            if element is not None:
                line = element.sourceline
                path = self._path_of(element)
            message = entry.message.replace("{http://www.arkivverket.no/standarder/noark5/", "{…/")
            self.report(XmlProblem("schema", line, path, msg("schema error: {error}", error=message)))

    def _find(self, root, message: str):
        match = _ELEMENT_IN_MESSAGE.match(message)
        if not match:
            return None
        tag = match.group(1)
        value_match = _VALUE_IN_MESSAGE.match(message)
        value = value_match.group(1).strip() if value_match else None
        candidates = [element for element in root.iter(tag)
                      if value is None or (element.text or "").strip() == value]
        if not candidates:
            return None
        previous = self.last_match.get(tag)
        start = next((index + 1 for index, element in enumerate(candidates) if element is previous), 0)
        chosen = next((element for element in candidates[start:]
                       if element.sourceline is not None and element.sourceline >= self.lines_before),
                      candidates[min(start, len(candidates) - 1)])
        self.last_match[tag] = chosen
        return chosen

    def _path_of(self, element) -> str:
        """The element path: the nearest enclosing entity's path, then the element names below it."""
        names: list[str] = []
        frames = {**self.chunk_frames, **{id(frame.element): frame for frame in self.frames}}
        node = element
        while node is not None:
            frame = frames.get(id(node))
            if frame is not None:
                return frame.path() + "".join(f"/{name}" for name in reversed(names))
            names.append(self._local(node.tag))
            node = node.getparent()
        return "/" + "/".join(reversed(names))

    def _not_well_formed(self, exc: etree.XMLSyntaxError | None) -> None:
        self.outcome.well_formed = False
        if exc is None:
            self.report(XmlProblem("not_well_formed", None, "", msg("the file ends before its root element is closed")))
            return
        line = exc.lineno if exc.lineno else None
        message = str(exc.msg if hasattr(exc, "msg") and exc.msg else exc)
        self.report(XmlProblem("not_well_formed", line, "", msg("XML error: {error}", error=message)))


def _diagnose(open_stream) -> XmlProblem:
    """The first well-formedness error of a file, from a plain parse without schema or events."""
    parser = etree.XMLPullParser(events=(), resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        with open_stream() as stream:
            while chunk := stream.read(CHUNK * 4):
                parser.feed(chunk)
        parser.close()
    except etree.XMLSyntaxError as exc:
        return XmlProblem("not_well_formed", exc.lineno or None, "", msg("XML error: {error}",
                                                                         error=str(exc.msg or exc)))
    return XmlProblem("not_well_formed", None, "", msg("the parser stopped before the end of the file"))
