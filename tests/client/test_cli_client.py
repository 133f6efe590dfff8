"""The client commands of `modelyard` run as a user would (`python -m modelyard ...` in a subprocess) against a
real server: saved credentials, progress, tables and --json, and the documented exit codes."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from modelyard.client import Client
from tests.support.datasets import buyers, to_csv
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


class Cli:
    """`python -m modelyard` with its own config folder (its saved credentials) and no MODELYARD_* settings."""

    def __init__(self, home: Path, **env: str):
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
        self.env.update({"XDG_CONFIG_HOME": str(home / "config"), "COLUMNS": "200", **env})

    @property
    def credentials(self) -> Path:
        return self.home / "config" / "modelyard" / "credentials.json"

    def __call__(self, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "modelyard", *args], cwd=self.home, env={**self.env, **env},
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def json(self, *args: str, **env: str):
        done = self(*args, "--json", **env)
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stderr}"
        return json.loads(done.stdout)


def logged_in(backend, home: Path, username: str) -> Cli:
    cli = Cli(home)
    done = cli("login", "--url", backend.url, "--username", username, "--json",
               MODELYARD_PASSWORD=backend.passwords[username])
    assert done.returncode == 0, done.stderr
    return cli


@pytest.fixture(scope="module")
def alice(backend, tmp_path_factory) -> Cli:
    return logged_in(backend, tmp_path_factory.mktemp("alice"), "alice")


@pytest.fixture(scope="module")
def admin(backend, tmp_path_factory) -> Cli:
    return logged_in(backend, tmp_path_factory.mktemp("admin"), "admin")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    (folder / "buyers.csv").write_bytes(to_csv(buyers(300)))
    (folder / "new.csv").write_bytes(to_csv(buyers(40, seed=3).drop(columns="will_buy")))
    (folder / "batch.csv").write_bytes(to_csv(buyers(120, seed=4)))
    return folder


@pytest.fixture(scope="module")
def model(alice, data) -> dict:
    """`upload`, then `train --follow`, then `deploy`: the deployed model's training answer."""
    dataset = alice.json("upload", str(data / "buyers.csv"))
    followed = alice("train", dataset["file_id"], "--target", "will_buy", "--budget", "5", "--name", "buyers",
                     "--follow", "--json")
    assert followed.returncode == 0, followed.stderr
    trained = json.loads(followed.stdout)
    deployed = alice.json("deploy", trained["model_id"])
    return {"dataset": dataset, "trained": trained, "deployed": deployed, "stderr": followed.stderr}


def test_login_saves_an_api_key_only_the_user_can_read_and_never_the_password(backend, alice):
    saved = json.loads(alice.credentials.read_text())
    assert stat.S_IMODE(alice.credentials.stat().st_mode) == 0o600
    assert saved["url"] == backend.url and saved["username"] == "alice" and saved["api_key"]
    assert backend.passwords["alice"] not in alice.credentials.read_text()
    assert alice.json("whoami")["username"] == "alice"


def test_upload_then_train_follow_shows_progress_and_prints_the_model(model):
    assert model["dataset"]["rows"] == 300 and model["dataset"]["file_id"]
    assert model["trained"]["status"] == "completed" and model["trained"]["model_id"].startswith("model_")
    assert "accuracy" in model["trained"]["metrics"]
    assert "training" in model["stderr"] and "100%" in model["stderr"]  # the bar, fed by the job's progress
    assert model["deployed"]["status"] == "deployed"


def test_predict_file_writes_every_row_with_its_prediction(alice, model, data, tmp_path):
    out = tmp_path / "predicted.csv"
    done = alice("predict", "buyers", str(data / "new.csv"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(out)
    source = pd.read_csv(data / "new.csv")
    assert len(predicted) == 40 and list(predicted.columns[:4]) == list(source.columns)
    assert set(predicted["prediction"]) <= {"yes", "no"} and "probability_yes" in predicted.columns
    as_json = alice.json("predict", model["trained"]["model_id"], str(data / "new.csv"))
    assert [r["prediction"] for r in as_json] == list(predicted["prediction"])
    table = alice("predict", "buyers", str(data / "new.csv"))
    assert table.returncode == 0 and "prediction" in table.stdout and "probability_yes" in table.stdout


def test_score_file_writes_the_scored_rows_with_bars_for_upload_scoring_and_download(backend, alice, model, data,
                                                                                    tmp_path):
    with Client.from_login(backend.url, "admin", backend.passwords["admin"]) as admin:
        admin.set_active_model("buyers")
    out = tmp_path / "scored.csv"
    done = alice("score", str(data / "batch.csv"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(out)) == 120
    for bar in ("upload", "scoring", "download"):
        assert bar in done.stderr
    assert "scored 120 rows" in done.stdout


def test_models_ls_lists_the_model_as_json_and_as_a_table(alice, model):
    listed = alice.json("models", "ls")
    assert model["trained"]["model_id"] in [m["id"] for m in listed]
    table = alice("models", "ls")
    assert table.returncode == 0 and model["trained"]["model_id"] in table.stdout and "deployed" in table.stdout


def test_label_export_writes_the_requests_labels(backend, alice, tmp_path):
    with Client.from_login(backend.url, "alice", backend.passwords["alice"]) as session:
        request = session.create_request("empty", "nothing labeled yet", ["a", "b"])
    out = tmp_path / "labels.csv"
    done = alice("label", "export", request["id"], "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines()[0].startswith("image_id,image_key,filename,labels")
    assert request["id"] in [r["id"] for r in alice.json("label", "ls")]
    assert json.loads(alice("label", "export", request["id"], "--format", "json").stdout) == []


def test_an_admin_lists_and_adds_users_and_a_user_is_refused_with_exit_1(admin, alice):
    added = admin("users", "add", "dora", "--role", "labeler", "--json", MODELYARD_NEW_PASSWORD="dora-password-1")
    assert added.returncode == 0, added.stderr
    assert "dora" in [u["username"] for u in admin.json("users", "ls")]
    refused = alice("users", "ls")
    assert refused.returncode == 1
    assert "modelyard: error:" in refused.stderr and "INSUFFICIENT_PERMISSIONS" in refused.stderr
    assert refused.stdout == ""


def test_a_refused_call_exits_1_with_the_servers_message_code_and_status(alice):
    done = alice("deploy", "model_doesnotexist")
    assert done.returncode == 1
    assert "model_doesnotexist" in done.stderr and "HTTP 404" in done.stderr and "request req_" in done.stderr


def test_an_unreachable_server_exits_3(tmp_path):
    cli = Cli(tmp_path, MODELYARD_URL=f"http://127.0.0.1:{free_port()}", MODELYARD_API_KEY="some-key")
    done = cli("models", "ls")
    assert done.returncode == 3
    assert "cannot reach the modelyard API" in done.stderr


def test_without_credentials_or_with_a_missing_file_the_command_exits_2(backend, alice, tmp_path):
    fresh = Cli(tmp_path / "fresh", MODELYARD_URL=backend.url)
    done = fresh("models", "ls")
    assert done.returncode == 2 and "not logged in" in done.stderr
    assert alice("upload", str(tmp_path / "missing.csv")).returncode == 2


def test_a_training_job_that_fails_exits_4_with_its_reason(alice, tmp_path):
    path = tmp_path / "one-class.csv"
    path.write_text("x,y\n" + "".join(f"{i},same\n" for i in range(60)))
    done = alice("train", str(path), "--target", "y", "--budget", "5", "--follow")
    assert done.returncode == 4, done.stderr
    assert "modelyard: error: training job_" in done.stderr and "only one class" in done.stderr


def test_logout_revokes_the_saved_key_on_the_server(backend, tmp_path):
    cli = logged_in(backend, tmp_path / "leaving", "alice")
    key = json.loads(cli.credentials.read_text())["api_key"]
    done = cli("logout")
    assert done.returncode == 0 and not cli.credentials.exists()
    with Client(backend.url, api_key=key) as old:
        with pytest.raises(Exception) as refused:
            old.me()
    assert getattr(refused.value, "status", None) == 401


def test_a_wrong_password_at_login_exits_1_and_saves_nothing(backend, tmp_path):
    cli = Cli(tmp_path)
    done = cli("login", "--url", backend.url, "--username", "alice", MODELYARD_PASSWORD="not-her-password")
    assert done.returncode == 1 and "HTTP 401" in done.stderr
    assert not cli.credentials.exists()


def test_train_without_follow_prints_the_job_to_follow(alice, model):
    started = alice.json("train", model["dataset"]["file_id"], "--target", "will_buy", "--budget", "5")
    assert started["job_id"].startswith("job_") and started["status"]
