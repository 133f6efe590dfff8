"""Built-in gallery models through the registry's routes: everyone sees them, only admins change them."""

from modelyard.gallery import catalog


def test_builtins_are_listed_for_every_user_and_changed_by_admins_only(client, app, accounts):
    gallery = app.state.runtime.gallery
    gallery.training_rows["lead-score"] = 400
    version = gallery.ensure_trained("lead-score")
    user, admin = accounts["user"], accounts["admin"]

    listed = client.get("/api/models", headers=user.headers).json()
    assert [m["id"] for m in listed["models"]] == [version.id]
    assert client.get(f"/api/models/{version.id}", headers=user.headers).json()["name"] == "lead-score"
    assert client.get("/api/status", headers=user.headers).json()["models_count"] == 1
    for method, path in (
        ("post", f"/api/models/{version.id}/deploy"),
        ("post", f"/api/models/{version.id}/archive"),
        ("delete", f"/api/models/{version.id}"),
    ):
        refused = client.request(method, path, headers=user.headers)
        assert refused.status_code == 403 and refused.json()["code"] == "INSUFFICIENT_PERMISSIONS"
    assert client.post(f"/api/models/{version.id}/deploy", headers=admin.headers).status_code == 200

    rows = {
        "data": [
            catalog.lookup("lead-score").example
            | {"demographic_score": 5, "behavioral_score": 5, "source_score": 5, "log_budget": 5.2}
        ]
    }
    answered = client.post("/api/predict/lead-score", json=rows, headers=user.headers)
    assert answered.status_code == 200, answered.text
    assert answered.json()["predictions"][0]["prediction"] in (0, 1)
