"""The web console: static HTML/CSS/JS served by the API process at ``/``.

The console is plain ES modules (no build step, no CDN) that talk to the REST API under
``/api/v0/data_pipeline``. The pages themselves hold no data, so they are served without the
API token; every data request the page makes carries it.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, send_from_directory

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/console/static"

# Everything comes from this origin; no inline script, so injected markup cannot run.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)

bp = Blueprint("console", __name__)


def _harden(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The token may travel in a download or stream URL: never send URLs to other sites.
    response.headers["Referrer-Policy"] = "no-referrer"
    # A new deployment must show its new scripts: revalidate instead of caching blindly.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def index():
    """The console's single page (hash routes: ``#/tasks``, ``#/tasks/<id>``, ``#/new``)."""
    response = send_from_directory(STATIC_DIR, "index.html", max_age=0)
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Frame-Options"] = "DENY"
    return _harden(response)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for this path on their own; answer with the console's icon."""
    return _harden(send_from_directory(STATIC_DIR, "favicon.svg", mimetype="image/svg+xml"))


@bp.get(f"{STATIC_URL}/<path:filename>")
def static_file(filename: str):
    """Scripts, styles and icons of the console (``send_from_directory`` refuses escapes)."""
    mimetype = "text/javascript" if filename.endswith(".js") else None
    return _harden(send_from_directory(STATIC_DIR, filename, mimetype=mimetype, max_age=0))


def register_console(app: Flask) -> None:
    """Serve the console at ``/`` of ``app``."""
    app.register_blueprint(bp)
