"""The fast doors: a small WSGI dispatcher in front of the Flask app for the two doors
that hand out most links, answered without Flask's request machinery.

    POST /api/v1/models/<namespace>/<name>/links             (the native API)
    HEAD|GET /<namespace>/<name>/resolve/<rev>/<path:path>    (the Hugging Face door)

It answers a request itself only when all of these hold: the URL rule Flask would
pick is one of those two views; the request carries a well-formed Bearer token and
the fast path applies (`fastpath.bearer_token`: on, PostgreSQL); the body (links)
is a JSON object the view would accept; and the fast path issues a link. Then the
answer is the view's: the same status, JSON body and headers, the request id, the
request's metric and log line, and the security headers every response carries
(web.security_headers). The request skips only what a token caller of these views
never needs: the cookie session, Flask-Limiter (token callers are exempt from the
anonymous budget), the CSRF hook (no cookie credential), and the request context.

Everything else is handed to Flask unchanged: any other URL, method or caller; a
body the view would refuse (Flask refuses it in its own words); the local storage
backend's metadata-only HEAD; and every request the fast path declines (it wrote
nothing; the full path takes it) or refuses or fails on (it recorded the refusal;
the view raises the very same error, so the error handlers map it to the door's
JSON error shape). A handed-over request carries the fast path's outcome in its
environ (`HANDED_KEY`), so the fast path never runs twice for one request, and its
request id, so the response names the id the refusal event was recorded with.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from distserver.api.bodies import MAX_BODY  # a larger or chunked body: the view refuses it
from distserver.app_runtime import Runtime
from distserver.catalog.names import MAX_PATH, check_names, check_path
from distserver.downloads.doors import HANDED_KEY, Handed
from distserver.downloads.fastpath import BEARER_KEY, bearer_token, issue_link
from distserver.downloads.signing import IssuedLink
from distserver.errors import DistserverError
from distserver.inputs import parse_json_body
from distserver.observability.logs import write_request_line
from distserver.observability.metrics import observe_request
from distserver.observability.requests import (
    REQUEST_ID_ENVIRON,
    REQUEST_ID_HEADER,
    incoming_request_id,
    outside_flask_request_id,
)
from distserver.observability.requests import (
    log as request_log,
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

LINKS_ENDPOINT = "api_v1.create_link"
RESOLVE_ENDPOINT = "hf.resolve_view"
MATCH_CACHE = 4096  # paths whose URL match is remembered


class FastDoors:
    """WSGI middleware: `app.wsgi_app = FastDoors(app, app.wsgi_app)`."""

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.next = wsgi_app
        self._adapter: MapAdapter | None = None
        self._matched: dict[tuple[str, str], tuple[str, dict[str, Any]] | None] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        authorization = environ.get("HTTP_AUTHORIZATION")
        if authorization is None or method not in ("POST", "HEAD", "GET"):
            return self.next(environ, start_response)
        path = environ.get("PATH_INFO") or ""
        if (method == "POST") != path.endswith("/links") or (
            method != "POST" and "/resolve/" not in path
        ):
            return self.next(environ, start_response)
        raw = bearer_token(self.app, authorization)
        if raw is None:
            return self.next(environ, start_response)
        found = self._match(path, method)
        if found is None:
            return self.next(environ, start_response)
        endpoint, values = found
        if endpoint == LINKS_ENDPOINT:
            asked = self._links_request(environ, values)
        else:
            asked = self._resolve_request(values, method)
        if asked is None:
            return self.next(environ, start_response)
        environ[BEARER_KEY] = raw  # what fastpath.request_token would work out again
        return self._answer(environ, start_response, endpoint, method, raw, asked)

    def _match(self, path: str, method: str) -> tuple[str, dict[str, Any]] | None:
        """The endpoint and values Flask's URL map gives, when it is one of ours
        (remembered per path: Flask adds no route once it serves requests)."""
        key = (path, method)
        if key in self._matched:
            return self._matched[key]
        found = self._match_uncached(path, method)
        if len(self._matched) >= MATCH_CACHE:
            self._matched.clear()
        self._matched[key] = found
        return found

    def _match_uncached(self, path: str, method: str) -> tuple[str, dict[str, Any]] | None:
        if self._adapter is None:
            self._adapter = self.app.url_map.bind("localhost")
        try:
            # WSGI hands the path as latin-1; werkzeug decodes it as UTF-8 like this.
            decoded = path.encode("latin-1").decode("utf-8", "replace")
            endpoint, values = self._adapter.match(decoded, method)
        except (HTTPException, UnicodeEncodeError):  # 404, 405, a redirect: Flask's
            return None
        if endpoint not in (LINKS_ENDPOINT, RESOLVE_ENDPOINT):
            return None
        return str(endpoint), dict(values)

    @staticmethod
    def _links_request(environ: dict[str, Any], values: dict[str, Any]) -> dict[str, Any] | None:
        """The links view's arguments, or None when the view would refuse the request
        (the body is put back for it to read)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None  # chunked or malformed: the view reads and caps it
        if not 0 < length <= MAX_BODY:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            check_names(values["namespace"], values["name"])
            data = parse_json_body(body) if body.strip() else None
            if not isinstance(data, dict):
                return None
            path, revision = data.get("path"), data.get("revision")
            if not isinstance(path, str) or not (revision is None or isinstance(revision, str)):
                return None
            check_path(path)
        except DistserverError:
            return None
        return {**values, "rev": revision, "path": path, "door": "api"}

    def _resolve_request(self, values: dict[str, Any], method: str) -> dict[str, Any] | None:
        if method == "HEAD" and self._runtime().storage.backend == "local":
            return None  # the metadata-only HEAD (hf.views._metadata_only)
        path = values["path"][: MAX_PATH + 1]
        return {**values, "path": path, "door": "hf"}

    def _runtime(self) -> Runtime:
        return self.app.extensions["distserver"]

    def _answer(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        endpoint: str,
        method: str,
        raw: str,
        asked: dict[str, Any],
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = incoming_request_id(environ.get("HTTP_X_REQUEST_ID"))
        commits: list[str] = []
        app = self.app
        with app.app_context(), outside_flask_request_id(request_id):
            try:
                link = issue_link(
                    app,
                    self._runtime(),
                    raw,
                    base_url=str(app.config["EXTERNAL_URL"]).rstrip("/") + "/",
                    address=environ.get("REMOTE_ADDR") or "unknown",
                    user_agent=environ.get("HTTP_USER_AGENT"),
                    on_revision=commits.append,
                    **asked,
                )
            except Exception as exc:  # refused (recorded) or failed: the view raises it
                link = None
                handed = Handed(error=exc, commit=commits[0] if commits else None)
            else:
                handed = Handed()
            if link is not None:
                return self._respond(
                    environ, start_response, endpoint, method, link, request_id, started
                )
        environ[HANDED_KEY] = handed
        environ[REQUEST_ID_ENVIRON] = request_id
        return self.next(environ, start_response)

    def _respond(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        endpoint: str,
        method: str,
        link: IssuedLink,
        request_id: str,
        started: float,
    ) -> Iterable[bytes]:
        from distserver.api.links_views import link_payload
        from distserver.hf.views import file_headers
        from distserver.web import security_headers

        if endpoint == LINKS_ENDPOINT:
            status, route = 201, "/api/v1/models/<namespace>/<name>/links"
            body = self._json(link_payload(link))
            mimetype = self.app.json.mimetype  # type: ignore[attr-defined]
            headers = [("Content-Type", mimetype), ("Content-Length", str(len(body)))]
        else:
            status, route = 302, "/<namespace>/<name>/resolve/<rev>/<path:path>"
            body = b""
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", "0"),
                ("Location", link.url),
                *file_headers(link.commit, link.sha256, link.size),
            ]
        headers += security_headers(self.app)
        headers.append((REQUEST_ID_HEADER, request_id))
        seconds = time.perf_counter() - started
        observe_request(route, method, status, seconds)
        write_request_line(
            request_log,
            {
                "request_id": request_id,
                "route": route,
                "method": method,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "user_id": None,
                "client": environ.get("REMOTE_ADDR"),
            },
        )
        start_response("201 CREATED" if status == 201 else "302 FOUND", headers)
        return [body]

    def _json(self, payload: dict[str, Any]) -> bytes:
        """jsonify's bytes for `payload` (flask.json.provider.DefaultJSONProvider.response)
        without building a Response."""
        provider: Any = self.app.json
        if (provider.compact is None and self.app.debug) or provider.compact is False:
            text = provider.dumps(payload, indent=2)
        else:
            text = provider.dumps(payload, separators=(",", ":"))
        return f"{text}\n".encode()


def install(app: Flask) -> None:
    """Put the fast doors in front of `app` (before ProxyFix wraps it, so they see the
    client address ProxyFix works out)."""
    app.wsgi_app = FastDoors(app, app.wsgi_app)  # type: ignore[method-assign]
