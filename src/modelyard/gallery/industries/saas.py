"""SaaS: user engagement, feature adoption, expansion prediction. Each recipe's docstring states its ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelyard.gallery import recipes as rx
from modelyard.gallery import responses as out
from modelyard.gallery.declarations import Derived, Estimator, Result
from modelyard.gallery.industries.common import F, LGBM, PLANS, yes_no, declare


def engagement_data(rng, n):
    """Engagement score (0-100) = 20 + 1.2 logins + 0.6 session minutes + 2.5 features used + plan
    (pro +6, enterprise +10) + 3 log(team) - 1.5 tickets - 0.01 days since signup + N(0, 6)."""
    d = {
        "logins_last_30d": rx.integers(rng, n, 0, 30),
        "avg_session_minutes": rx.uniform(rng, n, 0, 60, 1),
        "features_used": rx.integers(rng, n, 0, 20),
        "plan": rx.pick(rng, n, PLANS, [0.4, 0.3, 0.2, 0.1]),
        "team_size": rx.integers(rng, n, 1, 200),
        "support_tickets_30d": rng.poisson(1, n),
        "days_since_signup": rx.integers(rng, n, 1, 1500),
    }
    score = (
        20
        + 1.2 * d["logins_last_30d"]
        + 0.6 * d["avg_session_minutes"]
        + 2.5 * d["features_used"]
        + rx.effect(d["plan"], dict(zip(PLANS, (0, 2, 6, 10))))
        + 3 * np.log(d["team_size"])
        - 1.5 * d["support_tickets_30d"]
        - 0.01 * d["days_since_signup"]
        + rng.normal(0, 6, n)
    )
    return pd.DataFrame({**d, "engagement": np.round(np.clip(score, 0, 100), 1)})


def engagement_answer(r: Result) -> dict:
    score = float(np.clip(r.value, 0, 100))
    return out.answer(
        r,
        {
            "engagement_score": round(score, 1),
            "engagement_level": out.level(score / 100, (0.4, 0.7)),
            "key_drivers": r.factors(3, sign=+1),
            "risk_factors": r.factors(3, sign=-1),
        },
    )


ENGAGEMENT = declare(
    "saas",
    "user-engagement",
    "User Engagement Prediction",
    "Predicts a user's engagement score (0-100) for the coming month.",
    fields=(
        F("logins_last_30d", "number", "logins in the last 30 days", required=True, minimum=0, maximum=10_000),
        F("avg_session_minutes", "number", "average session length in minutes", required=True, minimum=0, maximum=1440),
        F("features_used", "integer", "distinct features used", required=True, minimum=0, maximum=1000),
        F("plan", "string", "subscription plan", default="basic", choices=PLANS),
        F("team_size", "integer", "seats on the account", default=5, minimum=1, maximum=1_000_000),
        F("support_tickets_30d", "integer", "support tickets in 30 days", default=0, minimum=0, maximum=10_000),
        F("days_since_signup", "number", "days since signup", default=180.0, minimum=0, maximum=100_000),
    ),
    task="regression",
    target="engagement",
    explains="next month's engagement score (0-100)",
    simulate=engagement_data,
    estimator=Estimator("linear"),
    seed=1501,
    respond=engagement_answer,
    example={
        "logins_last_30d": 18,
        "avg_session_minutes": 22.5,
        "features_used": 7,
        "plan": "pro",
        "team_size": 12,
        "support_tickets_30d": 1,
        "days_since_signup": 240,
    },
)

FEATURE_KINDS = ("reporting", "integrations", "automation", "collaboration", "analytics")


def adoption_data(rng, n):
    """Adoption within 30 days: log-odds -2 + 0.35 similar features adopted + 0.05 logins + 1.0 guide seen
    + plan (pro +0.5, enterprise +0.8) + category (automation -0.4, collaboration +0.3) - 0.0005 tenure days."""
    d = {
        "feature_category": rx.pick(rng, n, FEATURE_KINDS),
        "similar_features_adopted": rx.integers(rng, n, 0, 8),
        "logins_last_30d": rx.integers(rng, n, 0, 30),
        "guide_seen": rng.random(n) < 0.4,
        "plan": rx.pick(rng, n, PLANS, [0.4, 0.3, 0.2, 0.1]),
        "tenure_days": rx.integers(rng, n, 1, 2000),
        "team_size": rx.integers(rng, n, 1, 200),
    }
    logit = (
        -2.0
        + 0.35 * d["similar_features_adopted"]
        + 0.05 * d["logins_last_30d"]
        + 1.0 * d["guide_seen"]
        + rx.effect(d["plan"], dict(zip(PLANS, (0, 0.2, 0.5, 0.8))))
        + rx.effect(
            d["feature_category"],
            {"reporting": 0, "integrations": 0, "automation": -0.4, "collaboration": 0.3, "analytics": 0.1},
        )
        - 0.0005 * d["tenure_days"]
        + 0.1 * np.log(d["team_size"])
    )
    return pd.DataFrame({**d, "adopted": rx.bernoulli(rng, logit)})


ADOPTION = declare(
    "saas",
    "feature-adoption",
    "Feature Adoption Prediction",
    "Predicts the probability that an account adopts a feature within 30 days.",
    fields=(
        F("feature_category", "string", "kind of feature", required=True, choices=FEATURE_KINDS),
        F(
            "similar_features_adopted",
            "integer",
            "similar features already adopted",
            required=True,
            minimum=0,
            maximum=1000,
        ),
        F("logins_last_30d", "number", "logins in the last 30 days", default=10.0, minimum=0, maximum=10_000),
        F("guide_seen", "boolean", "saw the in-app guide", default=False),
        F("plan", "string", "subscription plan", default="basic", choices=PLANS),
        F("tenure_days", "number", "days as a customer", default=365.0, minimum=0, maximum=100_000),
        F("team_size", "integer", "seats on the account", default=5, minimum=1, maximum=1_000_000),
    ),
    target="adopted",
    explains="1 when the feature was adopted within 30 days",
    simulate=adoption_data,
    estimator=Estimator("linear"),
    seed=1502,
    respond=yes_no(
        "adoption_probability", level_name="adoption_level", extra=lambda r: {"likely_to_adopt": r.positive >= 0.5}
    ),
    example={
        "feature_category": "automation",
        "similar_features_adopted": 3,
        "logins_last_30d": 21,
        "guide_seen": True,
        "plan": "pro",
        "tenure_days": 410,
        "team_size": 15,
    },
)


def expansion_data(rng, n):
    """Expansion within 90 days: log-odds -2.5 + 4 (seat utilisation - 0.8) + 0.02 usage growth % + 0.015 NPS
    + plan (basic +0.3, pro +0.4) - 0.3 tickets + 0.3 log10(MRR/500)."""
    seats = rx.integers(rng, n, 1, 500)
    d = {
        "current_mrr": np.round(seats * rx.lognormal(rng, n, 40, 0.4, 5, 500), 2),
        "seats_purchased": seats,
        "seats_used": np.minimum(np.round(seats * rng.uniform(0.3, 1.05, n)), seats * 1.05).astype(int),
        "usage_growth_pct": rx.normal(rng, n, 5, 20, -80, 200),
        "nps_score": rx.integers(rng, n, -100, 100),
        "plan": rx.pick(rng, n, PLANS[1:], [0.45, 0.4, 0.15]),
        "support_tickets_30d": rng.poisson(1.5, n),
    }
    logit = (
        -2.5
        + 4 * (d["seats_used"] / seats - 0.8)
        + 0.02 * d["usage_growth_pct"]
        + 0.015 * d["nps_score"]
        + rx.effect(d["plan"], {"basic": 0.3, "pro": 0.4, "enterprise": 0})
        - 0.3 * d["support_tickets_30d"]
        + 0.3 * np.log10(d["current_mrr"] / 500)
    )
    return pd.DataFrame({**d, "expanded": rx.bernoulli(rng, logit)})


EXPANSION = declare(
    "saas",
    "expansion-prediction",
    "Expansion Revenue Prediction",
    "Predicts the probability that an account expands (more seats or a higher plan) within 90 days.",
    fields=(
        F("current_mrr", "number", "monthly recurring revenue", required=True, minimum=0, maximum=1e9),
        F("seats_purchased", "integer", "seats purchased", required=True, minimum=1, maximum=10_000_000),
        F("seats_used", "integer", "seats in use", required=True, minimum=0, maximum=10_000_000),
        F("usage_growth_pct", "number", "usage growth over 90 days (%)", default=0.0, minimum=-100, maximum=10_000),
        F("nps_score", "number", "net promoter score (-100..100)", default=0.0, minimum=-100, maximum=100),
        F("plan", "string", "subscription plan", default="basic", choices=PLANS[1:]),
        F("support_tickets_30d", "integer", "support tickets in 30 days", default=1, minimum=0, maximum=10_000),
    ),
    derived=(
        Derived(
            "seat_utilization",
            lambda d: d["seats_used"] / np.maximum(d["seats_purchased"], 1),
            ("seats_used", "seats_purchased"),
        ),
    ),
    target="expanded",
    explains="1 when the account expanded within 90 days",
    simulate=expansion_data,
    estimator=LGBM,
    seed=1503,
    respond=yes_no(
        "expansion_probability",
        level_name="opportunity_level",
        extra=lambda r: {
            "likely_to_expand": r.positive >= 0.5,
            "expected_expansion_mrr": round(r.positive * 0.3 * r.values["current_mrr"], 2),
        },
    ),
    example={
        "current_mrr": 4800,
        "seats_purchased": 60,
        "seats_used": 58,
        "usage_growth_pct": 35,
        "nps_score": 45,
        "plan": "pro",
        "support_tickets_30d": 0,
    },
)

MODELS = (ENGAGEMENT, ADOPTION, EXPANSION)
