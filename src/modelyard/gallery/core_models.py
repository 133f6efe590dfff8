"""The prediction platform's core tabular models: lead score, churn, sales forecast.

Inputs, ranges and response fields are the contract's (prediction-platform.md); where it gives no
range or default, the one chosen here is the recipe's typical value and is listed in docs/gallery.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelyard.gallery import recipes as rx
from modelyard.gallery import responses as out
from modelyard.gallery.declarations import Declaration, Derived, Estimator, Result
from modelyard.gallery.schema import Field

SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")
SCORE = dict(minimum=1.0, maximum=10.0)


def _scores(description: str, name: str) -> Field:
    return Field(name, "number", description, default=5.0, **SCORE)


def lead_data(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Budget grows with company size; conversion has log-odds -1 + 0.35(industry-5.5) + 0.45(engagement-5.5)
    + 0.2(demographic-5.5) + 0.3(behavioral-5.5) + 0.15(source-5.5) + 0.8 log10(budget/20k) + a size effect."""
    size = rx.pick(rng, n, SIZES, [0.3, 0.3, 0.2, 0.13, 0.07])
    budget = np.round(20_000 * rx.effect(size, dict(zip(SIZES, (1, 2.5, 6, 15, 40)))) * rx.noise(rng, n, 0.8), -2)
    scores = {
        k: rx.uniform(rng, n, 1, 10, 1)
        for k in ("industry_score", "engagement_score", "demographic_score", "behavioral_score", "source_score")
    }
    logit = (
        -1.0
        + 0.35 * (scores["industry_score"] - 5.5)
        + 0.45 * (scores["engagement_score"] - 5.5)
        + 0.2 * (scores["demographic_score"] - 5.5)
        + 0.3 * (scores["behavioral_score"] - 5.5)
        + 0.15 * (scores["source_score"] - 5.5)
        + 0.8 * np.log10(budget / 20_000)
        + rx.effect(size, dict(zip(SIZES, (-0.3, 0.0, 0.3, 0.4, 0.2))))
    )
    return pd.DataFrame({"company_size": size, "budget": budget, **scores, "converted": rx.bernoulli(rng, logit)})


def lead_answer(r: Result) -> dict:
    p = r.positive
    return out.answer(
        r,
        {
            "score": round(100 * p, 2),
            "quality": out.level(p, (0.4, 0.7), ("Cold", "Warm", "Hot")),
            "confidence": out.confidence(p),
            "prediction": int(p >= 0.5),
            "features_used": r.supplied,
        },
    )


LEAD = Declaration(
    name="lead-score",
    title="Lead Scoring Model",
    contract_id="lead_scoring",
    kind="tabular",
    credits=1,
    path="/api/predict/lead-score",
    description="Predicts the probability that a B2B lead converts, from firmographics and engagement scores.",
    fields=(
        Field("company_size", "string", "employees, as a band", required=True, choices=SIZES),
        Field("budget", "number", "available budget in USD", required=True, minimum=0, maximum=1e10),
        Field("industry_score", "number", "industry relevance (1-10)", required=True, **SCORE),
        _scores("engagement level (1-10)", "engagement_score"),
        _scores("demographic fit (1-10)", "demographic_score"),
        _scores("behavioral indicators (1-10)", "behavioral_score"),
        _scores("lead source quality (1-10)", "source_score"),
    ),
    derived=(Derived("log_budget", lambda d: np.log10(1.0 + d["budget"]), ("budget",), "log10(1 + budget)"),),
    target="converted",
    explains="1 when the lead converted",
    simulate=lead_data,
    estimator=Estimator("linear"),
    respond=lead_answer,
    seed=101,
    example={"company_size": "51-200", "budget": 150000, "industry_score": 8.5, "engagement_score": 7.2},
)

CONTRACTS = ("Month-to-month", "One year", "Two year")
PAYMENTS = ("Electronic check", "Mailed check", "Bank transfer (automatic)", "Credit card (automatic)")
INTERNET = ("DSL", "Fiber optic", "No")
ADDONS = ("Yes", "No", "No internet service")
LINES = ("Yes", "No", "No phone service")


def _total(values: dict) -> float:
    """tenure x monthly_charges"""
    return round(values["tenure"] * values["monthly_charges"], 2)


def churn_data(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Telecom-style customers; churn log-odds -1 + contract (+1 / -0.6 / -1.6) - 0.035 tenure
    + 0.012 (monthly - 65) + payment (e-check +0.5) + fiber +0.4 + no security +0.35 + no support +0.3
    + 0.15 multiple lines + N(0, 0.3)."""
    contract = rx.pick(rng, n, CONTRACTS, [0.55, 0.21, 0.24])
    tenure = np.where(contract == "Month-to-month", rx.integers(rng, n, 0, 48), rx.integers(rng, n, 1, 72))
    internet = rx.pick(rng, n, INTERNET, [0.34, 0.44, 0.22])
    monthly = np.round(rx.effect(internet, {"DSL": 55, "Fiber optic": 85, "No": 22}) + rng.normal(0, 12, n), 2)
    monthly = np.clip(monthly, 18, 150)
    phone = rng.random(n) < 0.9
    lines = np.where(phone, rx.pick(rng, n, ("Yes", "No"), [0.45, 0.55]), "No phone service")
    no_net = internet == "No"
    security = np.where(no_net, "No internet service", rx.pick(rng, n, ("Yes", "No"), [0.35, 0.65]))
    support = np.where(no_net, "No internet service", rx.pick(rng, n, ("Yes", "No"), [0.35, 0.65]))
    payment = rx.pick(rng, n, PAYMENTS, [0.34, 0.23, 0.22, 0.21])
    logit = (
        -1.0
        + rx.effect(contract, dict(zip(CONTRACTS, (1.0, -0.6, -1.6))))
        - 0.035 * tenure
        + 0.012 * (monthly - 65)
        + rx.effect(payment, dict(zip(PAYMENTS, (0.5, 0.1, -0.2, -0.2))))
        + rx.effect(internet, {"DSL": 0.0, "Fiber optic": 0.4, "No": -0.5})
        + rx.effect(security, {"Yes": -0.3, "No": 0.35, "No internet service": 0.0})
        + rx.effect(support, {"Yes": -0.3, "No": 0.3, "No internet service": 0.0})
        + 0.15 * (lines == "Yes")
        + rng.normal(0, 0.3, n)
    )
    total = np.round(tenure * monthly * rng.uniform(0.9, 1.05, n), 2)
    return pd.DataFrame(
        {
            "tenure": tenure,
            "monthly_charges": monthly,
            "contract_type": contract,
            "payment_method": payment,
            "internet_service": internet,
            "total_charges": total,
            "phone_service": phone,
            "multiple_lines": lines,
            "online_security": security,
            "tech_support": support,
            "churned": rx.bernoulli(rng, logit),
        }
    )


def churn_answer(r: Result) -> dict:
    p = r.positive
    block = out.binary(r, "churn_probability")
    return out.answer(r, {**block, "retention_score": round(100 * (1 - p), 1)})


CHURN = Declaration(
    name="churn",
    title="Churn Prediction Model",
    contract_id="churn_prediction",
    kind="tabular",
    credits=1,
    path="/api/predict/churn",
    description="Predicts the probability that a subscription customer cancels, from tenure, charges and services.",
    fields=(
        Field("tenure", "number", "months as a customer", required=True, minimum=0, maximum=600),
        Field("monthly_charges", "number", "monthly payment amount", required=True, minimum=0, maximum=100_000),
        Field("contract_type", "string", "contract term", required=True, choices=CONTRACTS),
        Field("payment_method", "string", "payment method", default="Electronic check", choices=PAYMENTS),
        Field("internet_service", "string", "internet service type", default="Fiber optic", choices=INTERNET),
        Field("total_charges", "number", "total charges to date", default=_total, minimum=0),
        Field("phone_service", "boolean", "has phone service", default=True),
        Field("multiple_lines", "string", "multiple lines status", default="No", choices=LINES),
        Field("online_security", "string", "online security service", default="No", choices=ADDONS),
        Field("tech_support", "string", "tech support service", default="No", choices=ADDONS),
    ),
    target="churned",
    explains="1 when the customer cancelled",
    simulate=churn_data,
    estimator=Estimator("lgbm", {"n_estimators": 150, "num_leaves": 15}),
    respond=churn_answer,
    seed=202,
    example={
        "tenure": 12,
        "monthly_charges": 79.85,
        "contract_type": "Month-to-month",
        "payment_method": "Electronic check",
        "internet_service": "Fiber optic",
        "total_charges": 958.2,
        "phone_service": True,
        "multiple_lines": "No",
        "online_security": "No",
        "tech_support": "No",
    },
)


def sales_data(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Next-period sales = historical x seasonality^0.8 x trend^0.7 x economy^0.5 x competition^-0.25
    x (1 + 0.25 ln(1 + 10 marketing/historical)) x (1 + 0.05 promotion) x (1 + 0.02 ln(team/10))
    x log-normal noise (sigma 0.08)."""
    historical = np.round(rx.lognormal(rng, n, 200_000, 1.0, 1_000, 5e7), 2)
    ratio = rng.uniform(0.0, 0.3, n)
    data = {
        "historical_sales": historical,
        "seasonality": rx.uniform(rng, n, 0.5, 2.0),
        "marketing_spend": np.round(ratio * historical, 2),
        "market_trend": rx.uniform(rng, n, 0.5, 2.0),
        "competition_index": rx.uniform(rng, n, 0.1, 2.0),
        "economic_indicator": rx.uniform(rng, n, 0.5, 2.0),
        "promotional_activity": rx.uniform(rng, n, 0.0, 2.0),
        "sales_team_size": np.round(np.exp(rng.uniform(0, np.log(200), n))).astype(int),
    }
    growth = (
        data["seasonality"] ** 0.8
        * data["market_trend"] ** 0.7
        * data["economic_indicator"] ** 0.5
        * data["competition_index"] ** -0.25
        * (1 + 0.25 * np.log1p(10 * ratio))
        * (1 + 0.05 * data["promotional_activity"])
        * (1 + 0.02 * np.log(data["sales_team_size"] / 10))
        * rx.noise(rng, n, 0.08)
    )
    return pd.DataFrame({**data, "next_sales": np.round(historical * growth, 2)})


def sales_answer(r: Result) -> dict:
    block = out.forecast(r, "forecasted_sales")
    growth = r.value / r.values["historical_sales"] - 1 if r.values["historical_sales"] else 0.0
    return out.answer(
        r,
        {
            "forecasted_sales": block.pop("forecasted_sales"),
            "confidence_interval": block.pop("confidence_interval"),
            "growth_rate": round(growth, 4),
            **block,
        },
    )


RANGE = dict(minimum=0.5, maximum=2.0)
SALES = Declaration(
    name="sales-forecast",
    title="Sales Forecasting Model",
    contract_id="sales_forecast",
    kind="tabular",
    credits=2,
    path="/api/predict/sales-forecast",
    description="Forecasts next-period sales with a 95% interval from historical sales and market factors.",
    fields=(
        Field("historical_sales", "number", "sales of the last period", required=True, minimum=0, maximum=1e12),
        Field("seasonality", "number", "seasonal factor (0.5-2.0)", required=True, **RANGE),
        Field("marketing_spend", "number", "marketing investment", required=True, minimum=0, maximum=1e12),
        Field("market_trend", "number", "market growth trend (0.5-2.0)", default=1.0, **RANGE),
        Field("competition_index", "number", "competitive pressure (0.1-2.0)", default=1.0, minimum=0.1, maximum=2.0),
        Field("economic_indicator", "number", "economic conditions (0.5-2.0)", default=1.0, **RANGE),
        Field("promotional_activity", "number", "promotional impact (0.0-2.0)", default=1.0, minimum=0.0, maximum=2.0),
        Field("sales_team_size", "integer", "sales team size", default=10, minimum=1, maximum=100_000),
    ),
    derived=(
        Derived(
            "marketing_ratio",
            lambda d: d["marketing_spend"] / np.maximum(d["historical_sales"], 1.0),
            ("marketing_spend", "historical_sales"),
            "marketing_spend / historical_sales",
        ),
    ),
    task="regression",
    target="next_sales",
    explains="next-period sales",
    relative_to="historical_sales",
    interval=True,
    simulate=sales_data,
    estimator=Estimator("lgbm", {"n_estimators": 200, "num_leaves": 15}),
    respond=sales_answer,
    seed=303,
    example={
        "historical_sales": 200000,
        "seasonality": 1.2,
        "marketing_spend": 25000,
        "market_trend": 1.1,
        "competition_index": 0.8,
        "economic_indicator": 1.05,
        "promotional_activity": 0.5,
        "sales_team_size": 12,
    },
)

CORE = (LEAD, CHURN, SALES)
