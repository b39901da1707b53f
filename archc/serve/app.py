"""The playground's web app (Starlette): the page, its static files and a small JSON API.

    GET  /                      the page (archc/serve/static/index.html)
    GET  /static/...            its script, styles and the vendored CodeMirror editor
    GET  /api/config            the spec to open first, the limits
    GET  /api/gallery           the bundled specs' names
    GET  /api/schema            the spec format's keys (editor completion)
    GET  /api/spec/{name}       a bundled spec's text (names from the gallery only)
    POST /api/analyze           {text, origin, overrides, level, focus} -> diagram, costs, savings, paths | error
    POST /api/compare           {a: {...}, b: {...}} -> `archc compare` of two texts
    POST /api/download/{kind}   {text, ...} -> the diagram as pdf/svg, or the generated PyTorch source (py)
    GET  /api/health            {"ok": true}, answered without a worker

Safe by construction: POST bodies must be JSON (a cross-site form cannot send one without a CORS
preflight, which is never granted) and at most ~1 MB; the Host header must name this server (no DNS
rebinding); every spec is handled by a worker process under a time limit (archc.serve.workers) and
archc's Limits; every response forbids scripts from anywhere but /static (Content-Security-Policy).
"""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Optional

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archc.serve import jobs
from archc.serve.workers import WorkerDied, WorkerPool, WorkerSettings, WorkerTimeout
from archc.spec.yamlload import DEFAULT_LIMITS, Limits

STATIC = Path(__file__).resolve().parent / "static"
BODY_SLACK = 64 * 1024  # JSON quoting and the other fields, on top of the spec size limit
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                    (b"cache-control", b"no-store")]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True)
class ServeConfig:
    """What `archc serve` was started with."""

    initial: Optional[dict[str, str]] = None  # {"name", "text", "origin"} of the spec given on the command line
    time_limit: float = 20.0  # seconds per request
    workers: int = 2
    limits: Limits = DEFAULT_LIMITS
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    memory_bytes: int = WorkerSettings.memory_bytes

    @property
    def max_body(self) -> int:
        return 2 * self.limits.max_file_bytes + BODY_SLACK  # two specs for compare


@dataclass
class State:
    config: ServeConfig
    pool: WorkerPool
    extra: dict[str, Any] = field(default_factory=dict)


class SecurityHeaders:
    """Adds the security headers to every response (pure ASGI, so streaming and errors get them too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def _state(request: Request) -> State:
    return request.app.state.archc


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": {"message": message, "line": 0, "col": 0, "file": "", "path": ""}},
                        status_code=status)


async def _read_json(request: Request, limit: int) -> Any:
    """The JSON body, refused (ValueError) when not JSON or larger than `limit` bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise jobs.BadRequest("send the request as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise jobs.BadRequest(f"request larger than {limit:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise jobs.BadRequest(f"request larger than {limit:,} bytes")
    try:
        return json.loads(bytes(body).decode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise jobs.BadRequest(f"the request is not valid JSON: {exc}") from None


async def _run(request: Request, job: tuple) -> Response:
    state = _state(request)
    try:
        result = await state.pool.run(job)
    except WorkerTimeout:
        return _problem(503, f"the spec took longer than {state.config.time_limit:g} s to process and was stopped "
                             "(try a coarser level or a focus on one part)")
    except WorkerDied as exc:
        return _problem(503, f"the spec could not be processed: {exc}")
    except RuntimeError as exc:
        return _problem(500, f"internal error: {exc}")
    return JSONResponse(result) if job[0] != "download" else _file(result)


def _file(result: dict[str, Any]) -> Response:
    if not result.get("ok"):
        return JSONResponse(result, status_code=422)
    return Response(result["data"], media_type=result["media_type"],
                    headers={"content-disposition": f'attachment; filename="{result["filename"]}"'})


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def config_api(request: Request) -> Response:
    cfg = _state(request).config
    return JSONResponse({"initial": cfg.initial, "time_limit": cfg.time_limit,
                         "max_spec_bytes": cfg.limits.max_file_bytes, "levels": list(jobs.LEVELS)})


async def gallery(request: Request) -> Response:
    return JSONResponse({"specs": jobs.gallery_names()})


async def schema(request: Request) -> Response:
    return JSONResponse({"keys": jobs.schema_keys()})


async def spec_text(request: Request) -> Response:
    text = jobs.gallery_text(request.path_params["name"], _state(request).config.limits)
    if text is None:
        return _problem(404, "no bundled spec of that name")
    return JSONResponse({"name": request.path_params["name"], "text": text})


async def analyze(request: Request) -> Response:
    cfg = _state(request).config
    try:
        req = jobs.parse_request(await _read_json(request, cfg.max_body), cfg.limits)
    except jobs.BadRequest as exc:
        return _problem(400, str(exc))
    return await _run(request, ("analyze", req))


async def compare(request: Request) -> Response:
    cfg = _state(request).config
    try:
        payload = await _read_json(request, cfg.max_body)
        if not isinstance(payload, dict):
            raise jobs.BadRequest("send {a: {...}, b: {...}}")
        a, b = jobs.parse_spec(payload.get("a"), cfg.limits), jobs.parse_spec(payload.get("b"), cfg.limits)
    except jobs.BadRequest as exc:
        return _problem(400, str(exc))
    return await _run(request, ("compare", a, b))


async def download(request: Request) -> Response:
    cfg = _state(request).config
    kind = request.path_params["kind"]
    try:
        if kind not in jobs.DOWNLOADS:
            raise jobs.BadRequest(f"download kind must be one of {', '.join(jobs.DOWNLOADS)}")
        req = jobs.parse_request(await _read_json(request, cfg.max_body), cfg.limits)
    except jobs.BadRequest as exc:
        return _problem(400, str(exc))
    return await _run(request, ("download", req, kind))


def create_app(config: ServeConfig = ServeConfig()) -> Starlette:
    """The ASGI app; its worker pool starts and stops with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = WorkerPool(config.workers, config.time_limit, WorkerSettings(config.limits, config.memory_bytes))
        await pool.start()
        app.state.archc = State(config, pool)
        try:
            yield
        finally:
            await pool.close()

    routes = [
        Route("/", index),
        Route("/api/health", health),
        Route("/api/config", config_api),
        Route("/api/gallery", gallery),
        Route("/api/schema", schema),
        Route("/api/spec/{name:path}", spec_text),
        Route("/api/analyze", analyze, methods=["POST"]),
        Route("/api/compare", compare, methods=["POST"]),
        Route("/api/download/{kind}", download, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders),
                  Middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)

