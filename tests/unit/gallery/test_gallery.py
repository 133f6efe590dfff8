"""The gallery: every built-in model trains, registers and answers in the contract's shape through the service."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.auth.models import User
from modelyard.config import Settings
from modelyard.errors import Forbidden
from modelyard.gallery import catalog
from modelyard.gallery.schema import InvalidInput
from modelyard.gallery.training import fit, model_frame
from modelyard.registry.service import RegistryService
from modelyard.runtime import Runtime
from modelyard.training import artifacts

ROWS = 1500


@pytest.fixture
def runtime(tmp_path):
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'm.db'}",
        secret_key="test-secret-key-0123456789abcdef",
    )
    rt = Runtime(settings, immediate_jobs=True)
    rt.db.migrate()
    rt.gallery.training_rows.update({d.name: ROWS for d in catalog.tabular()})
    yield rt
    rt.close()


def _user(rt, name: str, role: str = "user") -> User:
    with rt.db.session() as session:
        user = User(username=name, password_hash="!", role=role)
        session.add(user)
        session.commit()
        session.refresh(user)
        session.expunge(user)
        return user


def _check_shape(decl, answer):
    p = answer["prediction"]
    assert answer["model"].endswith("_v1") and p["model_version"] == "v1.0"
    for key, value in p.items():
        if key.endswith("_probability") or key == "confidence":
            assert 0.0 <= value <= 1.0, (decl.name, key, value)
    if "confidence_interval" in p:
        value = next(v for k, v in p.items() if k not in ("confidence", "confidence_interval") and isinstance(v, float))
        assert p["confidence_interval"]["lower"] <= value <= p["confidence_interval"]["upper"]
    if "key_factors" in p:
        assert p["key_factors"] and set(p["key_factors"]) <= {f.name for f in decl.fields}


def test_every_builtin_model_answers_its_example_in_the_contract_shape(runtime):
    alice = _user(runtime, "alice")
    for decl in catalog.DECLARATIONS:
        answer = runtime.gallery.predict(decl.name, decl.example, viewer=alice)
        _check_shape(decl, answer)
    lead = runtime.gallery.predict("lead-score", catalog.lookup("lead-score").example, viewer=alice)["prediction"]
    assert 0 <= lead["score"] <= 100 and lead["quality"] in ("Cold", "Warm", "Hot") and lead["prediction"] in (0, 1)
    assert lead["features_used"] == ["company_size", "budget", "industry_score", "engagement_score"]
    churn = runtime.gallery.predict("churn", catalog.lookup("churn").example, viewer=alice)["prediction"]
    assert churn["risk_level"] in ("Low", "Medium", "High") and len(churn["key_factors"]) == 3
    assert churn["retention_score"] == pytest.approx(100 * (1 - churn["churn_probability"]), abs=0.06)
    sales = runtime.gallery.predict("sales-forecast", catalog.lookup("sales-forecast").example, viewer=alice)[
        "prediction"
    ]
    assert sales["confidence_interval"]["lower"] < sales["forecasted_sales"] < sales["confidence_interval"]["upper"]
    assert sales["growth_rate"] == pytest.approx(sales["forecasted_sales"] / 200000 - 1, abs=1e-3)
    # the built-ins are ordinary registered models, deployed, served by a compiled predictor
    with runtime.db.session() as session:
        versions, total = RegistryService(session, None).list_versions(viewer=alice, limit=200)
        assert total == len(catalog.tabular()) and all(v.status == "deployed" and v.builtin for v in versions)
        assert all(v.serving and v.serving["predictor"] == "compiled" for v in versions), [
            (v.name, (v.serving or {}).get("reason"))
            for v in versions
            if (v.serving or {}).get("predictor") != "compiled"
        ]


def test_key_factors_follow_the_input(runtime):
    alice = _user(runtime, "alice")
    base = dict(catalog.lookup("churn").example)
    loyal = {**base, "contract_type": "Two year", "tenure": 70, "online_security": "Yes", "tech_support": "Yes"}
    a = runtime.gallery.predict("churn", base, viewer=alice)["prediction"]
    b = runtime.gallery.predict("churn", loyal, viewer=alice)["prediction"]
    assert a["churn_probability"] > b["churn_probability"]
    assert "contract_type" in a["key_factors"]


def test_sentiment_lands_right_on_clear_sentences(runtime):
    alice = _user(runtime, "alice")
    ask = lambda text: runtime.gallery.predict("sentiment", {"text": text}, viewer=alice)["prediction"]
    good = ask("I love this product, it is amazing and the support team was wonderful!")
    bad = ask("This was a terrible experience. The app is broken and I am angry and disappointed.")
    flat = ask("The invoice lists three items and is due on the first of the month.")
    assert (good["sentiment"], bad["sentiment"], flat["sentiment"]) == ("positive", "negative", "neutral")
    assert good["score"] > 0.5 and bad["score"] < -0.5 and abs(flat["score"]) < 0.05
    assert good["emotions"]["joy"] > good["emotions"]["anger"] and bad["emotions"]["anger"] > bad["emotions"]["joy"]
    assert "amazing" in good["keywords"] and "terrible" in bad["keywords"]
    assert ask("I love this product, it is amazing and the support team was wonderful!") == good


def test_keywords_on_a_paragraph(runtime):
    alice = _user(runtime, "alice")
    decl = catalog.lookup("keywords")
    p = runtime.gallery.predict("keywords", decl.example, viewer=alice)["prediction"]
    assert len(p["keywords"]) == decl.example["max_keywords"] == 5  # as many as asked for, no more
    words = [k["word"].lower() for k in p["keywords"]]
    assert any("machine learning" in w for w in words)
    top = next(k for k in p["keywords"] if k["word"].lower() == "machine learning")
    assert top["frequency"] == 3 and 0 < top["score"] <= 1
    assert "technology" in p["topics"] and p["summary"] and p["summary"] in decl.example["text"]
    assert isinstance(p["readability_score"], float)


def test_missing_and_out_of_range_fields_are_named(runtime):
    alice = _user(runtime, "alice")
    with pytest.raises(InvalidInput) as missing:
        runtime.gallery.predict("lead-score", {"company_size": "51-200", "industry_score": 5}, viewer=alice)
    assert missing.value.status == 422 and missing.value.code == "INVALID_INPUT"
    assert missing.value.details["fields"] == ["budget"]
    with pytest.raises(InvalidInput) as bad:
        runtime.gallery.predict(
            "sales-forecast",
            {"historical_sales": 1000, "seasonality": 3.5, "marketing_spend": 10, "competition_index": "lots"},
            viewer=alice,
        )
    assert bad.value.details["fields"] == ["seasonality", "competition_index"]
    assert "at most 2" in bad.value.message
    with pytest.raises(InvalidInput):
        runtime.gallery.predict("churn", {"tenure": 3, "monthly_charges": 50, "contract_type": "Weekly"}, viewer=alice)
    with pytest.raises(InvalidInput):
        runtime.gallery.predict("sentiment", {"text": "x" * 10_001}, viewer=alice)


def test_training_twice_gives_identical_predictions():
    for decl in catalog.tabular():
        frame = decl.simulate(np.random.default_rng(decl.seed), 600)
        first, second = fit(decl, frame), fit(decl, decl.simulate(np.random.default_rng(decl.seed), 600))
        X = model_frame(decl, frame.head(50))
        loaded = [artifacts.load(artifacts.dump(t.pipeline)) for t in (first, second)]
        method = "predict_proba" if decl.task == "classification" else "predict"
        assert np.array_equal(getattr(loaded[0], method)(X), getattr(loaded[1], method)(X)), decl.name


def test_a_users_own_model_of_the_same_name_shadows_the_builtin_for_that_user_only(runtime):
    alice, bob, admin = _user(runtime, "alice"), _user(runtime, "bob"), _user(runtime, "root", "admin")
    builtin = runtime.gallery.ensure_trained("lead-score")
    decl = catalog.lookup("lead-score")
    own = fit(decl, decl.simulate(np.random.default_rng(1), 300), seed=1)
    with runtime.db.session() as session:
        registry = RegistryService(session, runtime.blobs)
        mine = registry.create_version(
            owner=session.get(User, alice.id),
            name="lead-score",
            artifact=artifacts.dump(own.pipeline),
            artifact_name="model.skops",
            format="skops",
            task="classification",
            algorithm="x",
            signature=decl.signature,
            deploy=True,
        )
        assert registry.resolve("lead-score", viewer=alice).id == mine.id
        assert registry.resolve("lead-score", viewer=bob).id == builtin.id
        assert registry.resolve("lead-score", viewer=admin).id == builtin.id
        version = registry.get_version(builtin.id, viewer=bob)  # visible to everyone...
        with pytest.raises(Forbidden):
            registry.archive(version, actor=bob)  # ...changed by admins only
    # the gallery always answers with the built-in, whoever asks
    answer = runtime.gallery.predict("lead-score", decl.example, viewer=alice)
    assert answer["prediction"]["model_version"] == "v1.0"


def test_retrain_from_csv_adds_and_activates_a_version(runtime):
    admin, bob = _user(runtime, "root", "admin"), _user(runtime, "bob")
    decl = catalog.lookup("churn")
    csv = decl.simulate(np.random.default_rng(7), 400).to_csv(index=False)
    with pytest.raises(Forbidden):
        runtime.gallery.retrain("churn", csv, actor=bob)
    done = runtime.gallery.retrain("churn", csv, actor=admin)
    assert done["version"] == "v2.0" and done["activated"] and "accuracy" in done["metrics"]
    assert runtime.gallery.predict("churn", decl.example, viewer=bob)["prediction"]["model_version"] == "v2.0"
    runtime.gallery.activate("churn", "v1.0", actor=admin)
    assert runtime.gallery.predict("churn", decl.example, viewer=bob)["prediction"]["model_version"] == "v1.0"
    facts = runtime.gallery.describe("churn")
    assert [v["version"] for v in facts["versions"]] == ["v1.0", "v2.0"] and facts["training_data_size"] == ROWS
    assert "synthetic" in runtime.gallery.card("churn").lower()


def test_catalog_lists_every_model_once_with_contract_paths():
    names = [d.name for d in catalog.DECLARATIONS]
    assert len(names) == len(set(names)) == 20
    assert catalog.industry("saas", "expansion-prediction").name == "expansion-prediction"
    assert catalog.lookup("lead_scoring").name == "lead-score"
    assert {d.industry for d in catalog.DECLARATIONS if d.industry} == {
        "healthcare",
        "finance",
        "retail",
        "manufacturing",
        "saas",
    }


def _train_in_child(settings: Settings, name: str, start) -> None:
    rt = Runtime(settings)
    rt.gallery.training_rows[name] = 400
    start.wait(60)  # every child is ready (libraries imported): they ask at the same moment
    rt.gallery.ensure_trained(name)
    rt.close()


def test_two_processes_asking_at_once_train_a_model_once(tmp_path, database_url):
    """The lock is a flock on SQLite and an advisory lock on PostgreSQL: the second process finds the model."""
    import multiprocessing

    settings = Settings(
        _env_file=None, home=tmp_path / "home", database_url=database_url, secret_key="test-secret-key-0123456789abcdef"
    )
    Runtime(settings).db.migrate()
    context = multiprocessing.get_context("spawn")  # not fork: other tests leave threads (and their locks) behind
    start = context.Barrier(3)
    children = [context.Process(target=_train_in_child, args=(settings, "fraud-detection", start)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [c.exitcode for c in children] == [0, 0, 0]
    rt = Runtime(settings)
    with rt.db.session() as session:
        from modelyard.registry.models import ModelVersion

        versions = session.query(ModelVersion).all()
        assert [(v.name, v.number, v.status) for v in versions] == [("fraud-detection", 1, "deployed")]
    rt.close()


def test_a_builtin_whose_versions_an_admin_retired_is_not_retrained_behind_their_back(runtime):
    from modelyard.registry.models import ModelVersion
    from modelyard.registry.service import ModelNotDeployed

    admin, bob = _user(runtime, "root", "admin"), _user(runtime, "bob")
    ref = runtime.gallery.ensure_trained("quality-control")
    with runtime.db.session() as session:
        RegistryService(session, runtime.blobs).archive(session.get(ModelVersion, ref.id), actor=admin)
    runtime.invalidation.refresh()  # as the API does before each request: the archive moved the registry epoch
    example = catalog.lookup("quality-control").example
    with pytest.raises(ModelNotDeployed):
        runtime.gallery.predict("quality-control", example, viewer=bob)
    runtime.gallery.activate("quality-control", "v1.0", actor=admin)
    assert runtime.gallery.predict("quality-control", example, viewer=bob)["prediction"]["model_version"] == "v1.0"
    with pytest.raises(Forbidden):
        runtime.gallery.activate("quality-control", "v1.0", actor=bob)


def test_catalog_says_what_is_trained_and_unknown_names_are_model_not_found(runtime):
    before = {m["name"]: m for m in runtime.gallery.catalog()}
    assert before["churn"]["status"] == "not trained" and before["sentiment"]["status"] == "active"
    runtime.gallery.ensure_trained("churn")
    entry = {m["name"]: m for m in runtime.gallery.catalog()}["churn"]
    assert entry["status"] == "active" and entry["version"] == "v1.0" and entry["training_data_size"] == ROWS
    assert 50 < entry["accuracy"] <= 100 and entry["features"][:3] == ["tenure", "monthly_charges", "contract_type"]
    assert entry["credits"] == 1 and {m["credits"] for m in before.values() if m["industry"]} == {2}
    card = runtime.gallery.card("churn", format="json")
    assert card["data_statement"].startswith("Trained on synthetic data only") and card["metrics"]["roc_auc"] > 0.7
    with pytest.raises(catalog.GalleryModelNotFound) as unknown:
        runtime.gallery.predict("lead-scoring-v9", {}, viewer=_user(runtime, "alice"))
    assert unknown.value.status == 404 and unknown.value.code == "MODEL_NOT_FOUND"


def test_a_batch_answers_each_record_in_order_and_flags_the_bad_ones(runtime):
    alice = _user(runtime, "alice")
    decl = catalog.lookup("sales-forecast")
    good = dict(decl.example)
    bigger = {**good, "historical_sales": 400000, "marketing_spend": 50000}
    answers = runtime.gallery.predict_many("sales-forecast", [good, {"seasonality": 1.0}, bigger], viewer=alice)
    assert isinstance(answers[1], InvalidInput) and "historical_sales" in answers[1].details["fields"]
    single = runtime.gallery.predict("sales-forecast", good, viewer=alice)
    assert answers[0] == single  # one at a time or in a batch: the same answer
    assert answers[2]["prediction"]["forecasted_sales"] == pytest.approx(
        2 * single["prediction"]["forecasted_sales"], rel=0.05
    )  # learned as a ratio
    texts = runtime.gallery.predict_many("sentiment", [{"text": "great!"}, {"text": ""}], viewer=alice)
    assert texts[0]["prediction"]["sentiment"] == "positive" and isinstance(texts[1], InvalidInput)


def test_predictions_are_recorded_by_the_pipeline_text_models_included(runtime):
    from modelyard.ops import activity

    alice = _user(runtime, "alice")
    runtime.gallery.predict_many("sentiment", [{"text": "good"}, {"text": "bad"}], viewer=alice)
    runtime.gallery.predict("lead-score", catalog.lookup("lead-score").example, viewer=alice)
    runtime.prediction_log.flush(activity=True)
    with runtime.db.session() as session:
        rows, _ = activity.query(session, viewer=session.get(User, alice.id), type="prediction", since=None, limit=10)
        messages = sorted(a.message for a in rows)
    assert any("2 prediction(s) from model 'sentiment'" in m for m in messages), messages
    assert any("1 prediction(s) from model 'lead-score'" in m for m in messages), messages


def test_two_independent_builds_answer_identically_through_the_service(tmp_path):
    answers = []
    for folder in ("one", "two"):
        settings = Settings(_env_file=None, home=tmp_path / folder, database_url=f"sqlite:///{tmp_path / folder}.db",
                            secret_key="test-secret-key-0123456789abcdef")
        rt = Runtime(settings)
        rt.db.migrate()
        user = _user(rt, "alice")
        names = ("lead-score", "churn", "sales-forecast", "customer-segmentation")
        answers.append([rt.gallery.predict(n, catalog.lookup(n).example, viewer=user) for n in names])
        rt.close()
    assert answers[0] == answers[1]
