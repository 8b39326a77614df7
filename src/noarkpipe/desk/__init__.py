"""The review desk: the archivists' morning work on the review queue, in a browser.

`noarkpipe desk serve` runs a small web application (Starlette under
uvicorn, Jinja2 templates, every asset in this package: no CDN, no
external request) bound to loopback; in production a reverse proxy with TLS
stands in front of it (README, "The review desk").

- `app`: the routes. Each page reads through `noarkpipe.api` and the review
  services (`services.review_pages`, `services.desk_users`); each decision is
  the same call `noarkpipe review` makes, with the logged-in user as `by`.
- `security`: who is asking (the session cookie, or a trusted proxy's user
  header), the CSRF token every change must carry, the login throttle, the
  key that signs the cookies, and the response headers (no framing, no
  scripts but our own).
- `i18n`: the interface in bokmål by default, English on request (gettext
  catalogs read by Babel from `locale/`).
- `server`: uvicorn, started and stopped like the other commands.

Screened content (a journalpost with skjerming) is shown only to users
cleared for its arkivskaper: the others see the public title and no pages.
"""
