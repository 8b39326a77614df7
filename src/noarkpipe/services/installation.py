"""One operation's installation: its settings, resolved once, and its journal store, opened once.

Every API operation starts from a config (a path, or settings already loaded)
and most need the store; `installation()` gives both and disposes of the
store's connections when the operation ends. The store is opened (and
migrated) only when an operation first asks for it, so what fails before
that fails as it did without the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from noarkpipe.config import ArkivskaperSettings, Settings, load_settings
from noarkpipe.errors import ConfigError

if TYPE_CHECKING:
    from noarkpipe.store.engine import Store


def resolve_settings(config: str | Path | Settings | Installation) -> Settings:
    if isinstance(config, Installation):
        return config.settings
    return config if isinstance(config, Settings) else load_settings(config)


class Installation:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            from noarkpipe.store.engine import Store  # SQLAlchemy and Alembic: not for --help, init or validate

            self._store = Store.open(self.settings.store_url)
        return self._store

    def kode(self, kode: str | None) -> str:
        """The arkivskaper an operation is for: `kode`, or the only one; several and none named is an error."""
        settings = self.settings
        if kode:
            return settings.creator(kode).kode
        if len(settings.arkivskaper) == 1:
            return settings.arkivskaper[0].kode
        raise ConfigError(
            "several municipalities share this installation: say which one",
            hint="pass --arkivskaper with one of: " + ", ".join(a.kode for a in settings.arkivskaper),
        )

    def creator(self, kode: str | None) -> ArkivskaperSettings:
        return self.settings.creator(self.kode(kode))

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()
            self._store = None


@contextmanager
def installation(config: str | Path | Settings | Installation) -> Iterator[Installation]:
    """The installation of one operation; one already open (a long-running desk's) is used and left open."""
    if isinstance(config, Installation):
        yield config
        return
    opened = Installation(resolve_settings(config))
    try:
        yield opened
    finally:
        opened.close()
