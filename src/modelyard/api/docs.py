"""The API documentation pages and the front page, served from files installed with the package.

FastAPI's default /docs and /redoc load Swagger UI and ReDoc from a CDN (and fonts from Google), so
they are blank without internet. The same pages here load only from /static/ (api/static/VERSIONS
says which releases are vendored and how to refresh them).
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PREFIX = "/static"


def _root_page(app: FastAPI, root: str) -> str:
    title = escape(app.title)
    links = [("/docs", "Interactive API documentation (Swagger UI)"), ("/redoc", "API reference (ReDoc)"),
             ("/openapi.json", "OpenAPI document"), ("/health", "Health of each part")]
    items = "\n".join(f'    <li><a href="{root}{href}">{escape(text)}</a> <code>{href}</code></li>'
                      for href, text in links)
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" type="image/png" href="{root}{PREFIX}/swagger-ui/favicon-32x32.png">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
code{{color:#555}}</style></head>
<body>
  <h1>{title} {escape(app.version)}</h1>
  <p>{escape(app.description)}</p>
  <ul>
{items}
  </ul>
  <p>Log in with <code>POST /api/auth/login</code> (or <code>/login</code>, <code>/auth/login</code>), then use
  “Authorize” on the documentation page with the token.</p>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Mount the vendored assets and add `/`, `/docs`, `/docs/oauth2-redirect` and `/redoc` (public).

    The pages are module functions that find their app through the request: FastAPI keeps the endpoint
    callables it has seen in a process-wide cache (4,096 of them), so a closure over `app` would keep every
    app built in the process, with its runtime, alive (in the test suite: thousands of them)."""
    app.mount(PREFIX, StaticFiles(directory=STATIC), name="static")
    app.add_api_route("/", front_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs/oauth2-redirect", swagger_ui_redirect, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)


def _openapi_url(request: Request) -> str:
    return request.scope.get("root_path", "") + (request.app.openapi_url or "/openapi.json")


def front_page(request: Request) -> HTMLResponse:
    return HTMLResponse(_root_page(request.app, request.scope.get("root_path", "")))


def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request), title=f"{request.app.title} – API documentation",
        swagger_js_url=f"{root}{PREFIX}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{PREFIX}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}{PREFIX}/swagger-ui/favicon-32x32.png",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
    )


def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=_openapi_url(request), title=f"{request.app.title} – API reference",
        redoc_js_url=f"{root}{PREFIX}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}{PREFIX}/swagger-ui/favicon-32x32.png", with_google_fonts=False,
    )
