"""Finance: credit scoring, fraud detection, investment recommendation.

Each recipe's docstring states its ground truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelyard.gallery import recipes as rx
from modelyard.gallery.declarations import Derived, Result
from modelyard.gallery.industries.common import F, LGBM, choice, declare, yes_no


EMPLOYMENT = ("employed", "self-employed", "unemployed", "retired", "student")


def credit_data(rng, n):
    """Default: log-odds -2.2 + 2.5 debt/income + 1.2 loan/income - 0.006 history months + 0.8 per previous
    default - 0.8 collateral cover + employment (unemployed +1.2, student +0.6, self-employed +0.3)."""
    income = np.round(rx.lognormal(rng, n, 55_000, 0.6, 8_000, 1_000_000), -2)
    d = {
        "income": income,
        "credit_history_length": rx.integers(rng, n, 0, 360),
        "existing_debt": np.round(income * rng.uniform(0, 1.2, n), -2),
        "employment_status": rx.pick(rng, n, EMPLOYMENT, [0.65, 0.12, 0.08, 0.1, 0.05]),
        "loan_amount": np.round(income * rng.uniform(0.05, 1.5, n), -2),
    }
    d["collateral_value"] = np.where(
        rng.random(n) < 0.4, np.round(d["loan_amount"] * rng.uniform(0.2, 1.5, n), -2), 0.0
    )
    d["previous_defaults"] = rng.binomial(4, 0.07, n)
    logit = (
        -2.2
        + 2.5 * d["existing_debt"] / income
        + 1.2 * d["loan_amount"] / income
        - 0.006 * d["credit_history_length"]
        + 0.8 * d["previous_defaults"]
        - 0.8 * np.minimum(d["collateral_value"] / d["loan_amount"], 1.0)
        + rx.effect(d["employment_status"], dict(zip(EMPLOYMENT, (0, 0.3, 1.2, 0.1, 0.6))))
    )
    return pd.DataFrame({**d, "defaulted": rx.bernoulli(rng, logit)})


def credit_extra(r: Result) -> dict:
    p = r.positive
    score = round(850 - 550 * p)
    rating = "Excellent" if score >= 750 else "Good" if score >= 670 else "Fair" if score >= 580 else "Poor"
    return {"credit_score": score, "rating": rating, "approved": p < 0.3}


CREDIT = declare(
    "finance",
    "credit-scoring",
    "Credit Scoring",
    "Estimates the probability of default of a loan application and maps it to a 300-850 score.",
    fields=(
        F("income", "number", "annual income", required=True, minimum=0, maximum=1e9),
        F("credit_history_length", "number", "credit history in months", required=True, minimum=0, maximum=1200),
        F("existing_debt", "number", "current debt amount", required=True, minimum=0, maximum=1e10),
        F("employment_status", "string", "employment status", required=True, choices=EMPLOYMENT),
        F("loan_amount", "number", "requested loan amount", required=True, minimum=1, maximum=1e10),
        F("collateral_value", "number", "collateral value", default=0.0, minimum=0, maximum=1e10),
        F("previous_defaults", "integer", "previous defaults", default=0, minimum=0, maximum=50),
    ),
    derived=(
        Derived(
            "debt_to_income", lambda d: d["existing_debt"] / np.maximum(d["income"], 1.0), ("existing_debt", "income")
        ),
        Derived("loan_to_income", lambda d: d["loan_amount"] / np.maximum(d["income"], 1.0), ("loan_amount", "income")),
        Derived(
            "collateral_cover",
            lambda d: np.minimum(d["collateral_value"] / np.maximum(d["loan_amount"], 1.0), 1.0),
            ("collateral_value", "loan_amount"),
        ),
    ),
    target="defaulted",
    explains="1 when the loan defaulted",
    simulate=credit_data,
    estimator=LGBM,
    seed=1201,
    respond=yes_no("default_probability", cuts=(0.15, 0.35), extra=credit_extra),
    example={
        "income": 72000,
        "credit_history_length": 84,
        "existing_debt": 15000,
        "employment_status": "employed",
        "loan_amount": 25000,
        "collateral_value": 10000,
        "previous_defaults": 0,
    },
)

MERCHANTS = ("grocery", "electronics", "travel", "restaurants", "online_services", "jewelry", "gas")


def fraud_data(rng, n):
    """Fraud (about 5%): log-odds -4.6 + 0.9 log10(amount/50) + 1.4 foreign - 1.0 card present + 0.12 per
    transaction in 24h + night (0-5h) 1.0 + 0.4 log10(1 + km) + risky merchant (electronics/jewelry +0.8,
    online +0.5) - 0.4 log10(1 + account days)."""
    d = {
        "amount": np.round(rx.lognormal(rng, n, 50, 1.2, 0.5, 50_000), 2),
        "merchant_category": rx.pick(rng, n, MERCHANTS),
        "hour_of_day": rx.integers(rng, n, 0, 23),
        "distance_from_home_km": np.round(rx.lognormal(rng, n, 8, 1.5, 0, 15_000), 1),
        "transactions_last_24h": rng.poisson(3, n),
        "is_foreign": rng.random(n) < 0.08,
        "card_present": rng.random(n) < 0.6,
        "account_age_days": rx.integers(rng, n, 1, 4000),
    }
    logit = (
        -3.2
        + 0.9 * np.log10(d["amount"] / 50)
        + 1.4 * d["is_foreign"]
        - 1.0 * d["card_present"]
        + 0.12 * d["transactions_last_24h"]
        + 1.0 * (d["hour_of_day"] <= 5)
        + 0.4 * np.log10(1 + d["distance_from_home_km"])
        + rx.effect(
            d["merchant_category"],
            {
                "electronics": 0.8,
                "jewelry": 0.8,
                "online_services": 0.5,
                "travel": 0.3,
                "grocery": 0,
                "restaurants": 0,
                "gas": 0,
            },
        )
        - 0.4 * np.log10(1 + d["account_age_days"])
    )
    return pd.DataFrame({**d, "fraud": rx.bernoulli(rng, logit)})


FRAUD = declare(
    "finance",
    "fraud-detection",
    "Fraud Detection",
    "Scores a card transaction's probability of fraud.",
    fields=(
        F("amount", "number", "transaction amount", required=True, minimum=0, maximum=1e8),
        F("merchant_category", "string", "merchant category", required=True, choices=MERCHANTS),
        F("hour_of_day", "integer", "local hour (0-23)", default=12, minimum=0, maximum=23),
        F(
            "distance_from_home_km",
            "number",
            "distance from the card holder's home",
            default=5.0,
            minimum=0,
            maximum=40_000,
        ),
        F(
            "transactions_last_24h",
            "integer",
            "card transactions in the last 24 hours",
            default=3,
            minimum=0,
            maximum=10_000,
        ),
        F("is_foreign", "boolean", "made abroad", default=False),
        F("card_present", "boolean", "card physically present", default=True),
        F("account_age_days", "integer", "age of the account in days", default=730, minimum=0, maximum=40_000),
    ),
    target="fraud",
    explains="1 when the transaction was fraudulent",
    simulate=fraud_data,
    estimator=LGBM,
    seed=1202,
    respond=yes_no(
        "fraud_probability",
        cuts=(0.2, 0.5),
        extra=lambda r: {
            "is_fraud": r.positive >= 0.5,
            "action": "block" if r.positive >= 0.5 else "review" if r.positive >= 0.2 else "approve",
        },
    ),
    example={
        "amount": 1899.99,
        "merchant_category": "electronics",
        "hour_of_day": 3,
        "distance_from_home_km": 850,
        "transactions_last_24h": 9,
        "is_foreign": True,
        "card_present": False,
        "account_age_days": 45,
    },
)

STRATEGIES = ("conservative", "balanced", "growth", "aggressive")
EXPERIENCE = ("none", "beginner", "intermediate", "expert")
ALLOCATIONS = {
    "conservative": (0.2, 0.6, 0.2),
    "balanced": (0.5, 0.4, 0.1),
    "growth": (0.7, 0.25, 0.05),
    "aggressive": (0.9, 0.1, 0.0),
}


def investment_data(rng, n):
    """The strategy a suitability review chose, from a softmax of: risk tolerance and horizon push toward
    growth/aggressive, age and a missing emergency fund toward conservative, experience toward aggressive."""
    d = {
        "age": rx.integers(rng, n, 18, 85),
        "annual_income": np.round(rx.lognormal(rng, n, 60_000, 0.6, 0, 2e6), -2),
        "risk_tolerance": rx.uniform(rng, n, 1, 10, 1),
        "investment_horizon_years": rx.integers(rng, n, 1, 40),
        "has_emergency_fund": rng.random(n) < 0.6,
        "investment_experience": rx.pick(rng, n, EXPERIENCE, [0.25, 0.35, 0.3, 0.1]),
    }
    xp = rx.effect(d["investment_experience"], dict(zip(EXPERIENCE, (0, 0.3, 0.6, 1.0))))
    risk = (
        0.45 * (d["risk_tolerance"] - 5.5)
        + 0.06 * (d["investment_horizon_years"] - 15)
        - 0.03 * (d["age"] - 45)
        + 0.6 * d["has_emergency_fund"]
        + xp
    )
    scores = {
        "conservative": -1.2 * risk,
        "balanced": 0.5 - 0.2 * np.abs(risk),
        "growth": 0.6 * risk,
        "aggressive": -1.0 + 1.2 * risk,
    }
    return pd.DataFrame({**d, "strategy": rx.label_from_scores(rng, scores, 0.6)})


def investment_extra(r: Result) -> dict:
    mix = np.sum([np.array(ALLOCATIONS[k]) * p for k, p in r.probabilities.items()], axis=0)
    return {
        "allocation": {
            "stocks": round(float(mix[0]), 3),
            "bonds": round(float(mix[1]), 3),
            "cash": round(float(mix[2]), 3),
        }
    }


INVESTMENT = declare(
    "finance",
    "investment-recommendation",
    "Investment Recommendation",
    "Recommends an investment strategy and a probability-weighted asset allocation.",
    fields=(
        F("age", "number", "investor age", required=True, minimum=18, maximum=120),
        F("risk_tolerance", "number", "risk tolerance (1-10)", required=True, minimum=1, maximum=10),
        F("investment_horizon_years", "number", "horizon in years", required=True, minimum=0, maximum=80),
        F("annual_income", "number", "annual income", default=60_000.0, minimum=0, maximum=1e9),
        F("has_emergency_fund", "boolean", "has an emergency fund", default=True),
        F("investment_experience", "string", "experience", default="beginner", choices=EXPERIENCE),
    ),
    target="strategy",
    explains="the strategy chosen by a suitability review",
    simulate=investment_data,
    estimator=LGBM,
    seed=1203,
    respond=choice("recommended_strategy", investment_extra),
    example={
        "age": 34,
        "risk_tolerance": 7,
        "investment_horizon_years": 25,
        "annual_income": 85000,
        "has_emergency_fund": True,
        "investment_experience": "intermediate",
    },
)

MODELS = (CREDIT, FRAUD, INVESTMENT)
