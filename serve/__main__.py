"""`python -m serve`: the API, dashboard and metrics on QUANTBOT_API_HOST:QUANTBOT_API_PORT (uvicorn)."""

from __future__ import annotations

import sys


def main(env=None) -> int:
    from resources.settings import SettingsError
    from serve.settings import ServeSettings, is_loopback_host

    try:
        settings = ServeSettings.from_env(env)
    except SettingsError as e:
        print(e, file=sys.stderr)
        return 2
    if not settings.keys_on and not is_loopback_host(settings.host):
        print(f"refusing to listen on {settings.host!r} without API keys: with no keys the API answers loopback "
              "clients only, so other hosts would get nothing but 403.\nSet QUANTBOT_API_KEYS=<key>[,<key>...] to "
              "serve other hosts, or QUANTBOT_API_HOST=127.0.0.1 to serve this machine.", file=sys.stderr)
        return 2
    import uvicorn

    from serve.app import create_app

    print(f"serving the read API on http://{settings.host}:{settings.port} (docs at /docs; "
          f"{'keys on' if settings.keys_on else 'loopback clients only'}); warehouse {settings.warehouse_kind}",
          file=sys.stderr)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
