"""The front page and the API documentation work without internet: every asset comes from the package."""
from __future__ import annotations

import re

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ANY_URL = re.compile(r"""https?://[^\s"'<>)]+""")


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/"])
def test_the_page_references_only_local_urls_that_answer(client, page):
    response = client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text

    assets = ASSET.findall(html)
    assert assets, f"{page} references nothing"
    assert ANY_URL.findall(html) == [], f"{page} references another host"
    for url in assets:
        assert url.startswith("/"), f"{page} references {url}"
        fetched = client.get(url)
        assert fetched.status_code == 200, f"{url} of {page}: {fetched.status_code}"
        assert fetched.content, f"{url} of {page} is empty"


def test_swagger_ui_loads_the_openapi_of_this_server_and_its_oauth_redirect_page(client):
    html = client.get("/docs").text
    assert "url: '/openapi.json'" in html
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in html
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "modelyard"


def test_the_vendored_scripts_are_the_real_bundles(client):
    swagger = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    redoc = client.get("/static/redoc/redoc.standalone.js")
    assert len(swagger.content) > 1_000_000 and b"SwaggerUIBundle" in swagger.content
    assert len(redoc.content) > 500_000 and b"Redoc" in redoc.content
    assert swagger.headers["content-type"].startswith(("application/javascript", "text/javascript"))


def test_the_front_page_points_to_the_docs(client):
    html = client.get("/").text
    for href in ('href="/docs"', 'href="/redoc"', 'href="/openapi.json"', 'href="/health"'):
        assert href in html
    assert "modelyard" in html


def test_the_docs_routes_are_not_in_the_openapi(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/docs", "/redoc", "/docs/oauth2-redirect"} & paths.keys()
