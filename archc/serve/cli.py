"""`archc serve` (registered lazily by archc.cli): the local web playground."""
from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any, Optional

import click

from archc.errors import ArchcError, SourceLoc, SpecError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def initial_spec(spec: Optional[str]) -> Optional[dict[str, str]]:
    """The spec to open first: a bundled name or a file (read with the size limit, checked as it is read)."""
    if spec is None:
        return None
    from archc.bundled import bundled_specs_dir, resolve_spec_arg
    from archc.serve.jobs import gallery_names, gallery_text
    from archc.spec.yamlload import read_yaml_file

    if spec in gallery_names():
        return {"name": spec, "origin": spec, "text": gallery_text(spec) or ""}
    path = resolve_spec_arg(spec)
    read_yaml_file(path)  # refuses special files, binary and oversized files with archc's located error
    text = Path(path).read_bytes().decode("utf-8")
    try:
        rel = Path(path).resolve().relative_to(bundled_specs_dir().resolve()).with_suffix("").as_posix()
    except ValueError:
        rel = ""
    origin = rel if rel in gallery_names() else ""
    return {"name": Path(path).stem, "origin": origin, "text": text}


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ArchcError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         expected="a free port (--port) on a local address (--host)") from None
    sock.listen(128)
    return sock


@click.command()
@click.argument("spec", required=False)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but a loopback address exposes the playground to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port (0: any free port).")
@click.option("--time-limit", type=click.FloatRange(0.1, 600), default=20.0, show_default=True,
              help="Seconds one request may take before its worker is stopped.")
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Worker processes that validate, analyse and draw specs.")
def serve(spec: Optional[str], host: str, port: int, time_limit: float, workers: int) -> None:
    """Start the local web playground: edit a spec, see its diagram, costs and paths live."""
    import uvicorn

    from archc.serve.app import LOCAL_HOSTS, ServeConfig, create_app

    try:
        initial = initial_spec(spec)
    except UnicodeDecodeError:
        raise SpecError("not valid UTF-8", loc=SourceLoc(str(spec))) from None
    hosts = LOCAL_HOSTS if _is_loopback(host) else ("*",)
    if not _is_loopback(host):
        click.echo(f"archc serve: warning: listening on {host}, reachable from other machines; the playground "
                   "has no authentication", err=True)
    config = ServeConfig(initial=initial, time_limit=time_limit, workers=workers, allowed_hosts=hosts)
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    click.echo(f"archc serve: http://{shown}:{sock.getsockname()[1]}/  (Ctrl-C to stop)")
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", lifespan="on"))
    _serve(server, sock)


def _serve(server: Any, sock: socket.socket) -> None:
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
