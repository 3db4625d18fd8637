"""`kb serve`: the web app and the JSON API, in one process or several."""

from typing import Any

import click

from kb.cli.context import Context, clear_errors, pass_context
from kb.settings import Settings


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on [default: KB_HOST or 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [default: KB_PORT or 8000].")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes [default: KB_WORKERS, or one per core up to 4]; each holds its "
    "own index and catches up with the database.",
)
@pass_context
def serve_command(
    context: Context, host: str | None, port: int | None, workers: int | None
) -> None:
    """Serve the web app and the JSON API (documented at /docs).

    Reading needs a signed-in user unless KB_PUBLIC_READ=1; add users with
    `kb user add`. With several workers, settings come from KB_* variables,
    and KB_SECRET_KEY must be set when the workers do not share KB_HOME.
    """
    from web.workers import default_workers, serve_workers

    workers = workers or context.settings.workers or default_workers()
    if workers == 1:
        serve_app(context.settings, host, port)
        return
    import uvicorn

    check_sso_settings(context)  # a bad setting stops here, before the workers start
    context.database.dispose()  # created or checked here once: refuses an old schema
    config = uvicorn.Config(
        "web.app:create_app",
        factory=True,
        workers=workers,
        host=host or context.settings.host,
        port=port or context.settings.port,
        log_level="info",
        **proxy_options(context.settings),  # the workers get them with the config
    )
    serve_workers(config, workers)


def serve_app(
    settings: Settings, host: str | None, port: int | None, demo_password: str = ""
) -> None:
    import uvicorn

    from web.app import create_app

    with clear_errors():
        app = create_app(settings)
    app.state.demo_password = demo_password
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        **proxy_options(settings),
    )


def proxy_options(settings: Settings) -> dict[str, Any]:
    """Whose X-Forwarded-For/-Proto uvicorn believes: only KB_FORWARDED_ALLOW_IPS's.
    uvicorn's own default believes 127.0.0.1, so that anyone on the machine could pose as
    any address (and get fresh sign-in throttle counts with each)."""
    allowed = (settings.forwarded_allow_ips or "").strip()
    if not allowed:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": allowed}


def check_sso_settings(context: Context) -> None:
    from kb.sso_settings import sso_settings

    with clear_errors(), context.database.session() as session:
        sso_settings(context.settings, session)
