"""The 15 industry models behind ``/api/industry/{industry}/{name}`` (paths as the contract spells them).

The contract gives inputs for risk-assessment and credit-scoring only; the other models' inputs are
plausible ones chosen here (docs/gallery.md lists them). Each recipe's docstring states its ground truth.
Response fields follow the contract's core models: probability, level, confidence, 0/1 prediction and
key factors for yes/no models; label, probabilities and alternatives for choices; value with a 95%
interval for forecasts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from modelyard.gallery import recipes as rx
from modelyard.gallery import responses as out
from modelyard.gallery.declarations import Declaration, Derived, Estimator, Result
from modelyard.gallery.schema import Field

F, LGBM = Field, Estimator("lgbm")
GENDERS, SMOKING = ("male", "female", "other"), ("never", "former", "current")
HISTORY = ("heart_disease", "diabetes", "stroke", "hypertension", "cancer")
PLANS = ("free", "basic", "pro", "enterprise")


def _industry(industry: str, name: str, title: str, description: str, **kw) -> Declaration:
    return Declaration(name=name, title=title, description=description, kind="tabular", industry=industry,
                       contract_id=f"{industry}_{name.replace('-', '_')}", path=f"/api/industry/{industry}/{name}",
                       credits=kw.pop("credits", 2), **kw)


def _binary(probability: str, *, cuts=(0.3, 0.6), level_name: str = "risk_level", extra=None):
    def respond(r: Result) -> dict:
        block = out.binary(r, probability, cuts=cuts, level_name=level_name)
        return out.answer(r, {**block, **(extra(r) if extra else {})})
    return respond


def _choice(label: str, extra=None):
    def respond(r: Result) -> dict:
        return out.answer(r, {**out.choice(r, label), **(extra(r) if extra else {})})
    return respond


# Healthcare -----------------------------------------------------------------------------------------

def risk_data(rng, n):
    """10-year cardiovascular event: log-odds -5.2 + 0.06 (age-50) + 0.08 (bmi-26) + 0.025 (systolic-125)
    + 0.015 (diastolic-80) + 0.006 (cholesterol-200) + 0.7 diabetes + smoking (former 0.3, current 0.9)
    + 0.35 per family condition + 0.25 male."""
    age = rx.integers(rng, n, 18, 90)
    d = {"age": age, "gender": rx.pick(rng, n, GENDERS, [0.49, 0.49, 0.02]),
         "bmi": rx.normal(rng, n, 27, 5, 15, 50), "blood_pressure_systolic": rx.normal(rng, n, 110 + 0.4 * age, 15, 85, 210, 0),
         "blood_pressure_diastolic": rx.normal(rng, n, 78, 10, 50, 130, 0), "cholesterol": rx.normal(rng, n, 200, 35, 110, 350, 0),
         "diabetes": rng.random(n) < 0.12, "smoking_status": rx.pick(rng, n, SMOKING, [0.6, 0.25, 0.15]),
         "family_history": rng.binomial(3, 0.15, n)}
    logit = (-2.4 + 0.06 * (age - 50) + 0.08 * (d["bmi"] - 26) + 0.025 * (d["blood_pressure_systolic"] - 125)
             + 0.015 * (d["blood_pressure_diastolic"] - 80) + 0.006 * (d["cholesterol"] - 200) + 0.7 * d["diabetes"]
             + rx.effect(d["smoking_status"], {"never": 0, "former": 0.3, "current": 0.9})
             + 0.35 * d["family_history"] + 0.25 * (d["gender"] == "male"))
    return pd.DataFrame({**d, "event": rx.bernoulli(rng, logit)})


RISK = _industry(
    "healthcare", "risk-assessment", "Healthcare Risk Assessment",
    "Estimates a patient's 10-year cardiovascular risk from vital signs and history.",
    fields=(F("age", "number", "patient age", required=True, minimum=0, maximum=120),
            F("gender", "string", "gender", required=True, choices=GENDERS),
            F("bmi", "number", "body mass index", required=True, minimum=10, maximum=80),
            F("blood_pressure_systolic", "number", "systolic blood pressure (mmHg)", required=True, minimum=60, maximum=260),
            F("blood_pressure_diastolic", "number", "diastolic blood pressure (mmHg)", required=True, minimum=30, maximum=160),
            F("cholesterol", "number", "total cholesterol (mg/dL)", default=200.0, minimum=80, maximum=500),
            F("diabetes", "boolean", "has diabetes", default=False),
            F("smoking_status", "string", "smoking status", default="never", choices=SMOKING),
            F("family_history", "object", "family medical history: true/false per condition", default=None, keys=HISTORY)),
    target="event", explains="1 when a cardiovascular event occurred within 10 years", simulate=risk_data,
    estimator=LGBM, seed=1101,
    respond=_binary("risk_probability", cuts=(0.1, 0.2), extra=lambda r: {"risk_score": round(100 * r.positive, 1)}),
    example={"age": 58, "gender": "male", "bmi": 29.4, "blood_pressure_systolic": 145, "blood_pressure_diastolic": 92,
             "cholesterol": 240, "diabetes": False, "smoking_status": "former",
             "family_history": {"heart_disease": True, "diabetes": False}},
)

TREATMENTS = ("lifestyle", "medication", "combination", "specialist_referral")
RESPONSES = ("none", "poor", "partial", "good")


def treatment_data(rng, n):
    """The treatment that worked, drawn from a softmax of scores: lifestyle for mild, young patients;
    medication as severity rises; combination with comorbidities or a poor earlier response; referral
    for severe cases with low kidney function."""
    d = {"age": rx.integers(rng, n, 18, 90), "condition_severity": rx.uniform(rng, n, 1, 10, 1),
         "comorbidities": rx.integers(rng, n, 0, 5), "bmi": rx.normal(rng, n, 27, 5, 15, 50),
         "kidney_function": rx.normal(rng, n, 85, 20, 15, 130, 0),
         "previous_response": rx.pick(rng, n, RESPONSES, [0.4, 0.2, 0.25, 0.15])}
    poor = rx.effect(d["previous_response"], {"none": 0, "poor": 1.0, "partial": 0.5, "good": -0.5})
    scores = {"lifestyle": 3.0 - 0.5 * d["condition_severity"] - 0.02 * (d["age"] - 50) + 0.5 * (d["previous_response"] == "good"),
              "medication": 0.6 + 0.25 * d["condition_severity"] - 0.3 * d["comorbidities"],
              "combination": -1.0 + 0.2 * d["condition_severity"] + 0.5 * d["comorbidities"] + poor,
              "specialist_referral": -3.0 + 0.45 * d["condition_severity"] - 0.04 * (d["kidney_function"] - 85)}
    return pd.DataFrame({**d, "treatment": rx.label_from_scores(rng, scores, 0.7)})


TREATMENT = _industry(
    "healthcare", "treatment-recommendation", "Treatment Recommendation",
    "Recommends a treatment path (lifestyle, medication, combination, specialist referral) from a patient profile.",
    fields=(F("age", "number", "patient age", required=True, minimum=0, maximum=120),
            F("condition_severity", "number", "severity of the condition (1-10)", required=True, minimum=1, maximum=10),
            F("comorbidities", "integer", "number of other chronic conditions", default=0, minimum=0, maximum=20),
            F("bmi", "number", "body mass index", default=27.0, minimum=10, maximum=80),
            F("kidney_function", "number", "eGFR (mL/min/1.73m²)", default=85.0, minimum=5, maximum=150),
            F("previous_response", "string", "response to earlier treatment", default="none", choices=RESPONSES)),
    target="treatment", explains="the treatment path that worked", simulate=treatment_data, estimator=LGBM, seed=1102,
    respond=_choice("recommended_treatment"),
    example={"age": 52, "condition_severity": 6.5, "comorbidities": 2, "bmi": 31, "kidney_function": 70,
             "previous_response": "partial"},
)

PLANS_OF_CARE = ("surgery", "medication", "physical_therapy", "observation")


def outcome_data(rng, n):
    """Favorable outcome: log-odds 2.2 - 0.03 (age-50) - 0.3 severity + 2.0 adherence - 0.35 comorbidities
    + plan effect (surgery -0.3, therapy +0.2) - 0.1 (stay-5)."""
    d = {"age": rx.integers(rng, n, 18, 95), "treatment_plan": rx.pick(rng, n, PLANS_OF_CARE),
         "condition_severity": rx.uniform(rng, n, 1, 10, 1), "comorbidities": rx.integers(rng, n, 0, 5),
         "adherence": rx.uniform(rng, n, 0, 1), "length_of_stay": rx.integers(rng, n, 0, 30)}
    logit = (1.8 - 0.03 * (d["age"] - 50) - 0.3 * d["condition_severity"] + 2.0 * d["adherence"] - 0.35 * d["comorbidities"]
             + rx.effect(d["treatment_plan"], {"surgery": -0.3, "medication": 0, "physical_therapy": 0.2, "observation": 0.1})
             - 0.1 * (d["length_of_stay"] - 5) + 1.0)
    return pd.DataFrame({**d, "favorable": rx.bernoulli(rng, logit)})


OUTCOME = _industry(
    "healthcare", "patient-outcome", "Patient Outcome Prediction",
    "Predicts the probability of a favorable outcome of a treatment plan.",
    fields=(F("age", "number", "patient age", required=True, minimum=0, maximum=120),
            F("treatment_plan", "string", "planned treatment", required=True, choices=PLANS_OF_CARE),
            F("condition_severity", "number", "severity (1-10)", required=True, minimum=1, maximum=10),
            F("comorbidities", "integer", "other chronic conditions", default=0, minimum=0, maximum=20),
            F("adherence", "number", "expected adherence (0-1)", default=0.7, minimum=0, maximum=1),
            F("length_of_stay", "integer", "days in hospital", default=3, minimum=0, maximum=365)),
    target="favorable", explains="1 when the outcome was favorable", simulate=outcome_data, estimator=LGBM, seed=1103,
    respond=_binary("success_probability", level_name="success_level", extra=lambda r: {"outcome": "favorable" if r.positive >= 0.5 else "unfavorable"}),
    example={"age": 67, "treatment_plan": "surgery", "condition_severity": 7, "comorbidities": 1, "adherence": 0.8,
             "length_of_stay": 4},
)

# Finance --------------------------------------------------------------------------------------------

EMPLOYMENT = ("employed", "self-employed", "unemployed", "retired", "student")


def credit_data(rng, n):
    """Default: log-odds -2.2 + 2.5 debt/income + 1.2 loan/income - 0.006 history months + 0.8 per previous
    default - 0.8 collateral cover + employment (unemployed +1.2, student +0.6, self-employed +0.3)."""
    income = np.round(rx.lognormal(rng, n, 55_000, 0.6, 8_000, 1_000_000), -2)
    d = {"income": income, "credit_history_length": rx.integers(rng, n, 0, 360),
         "existing_debt": np.round(income * rng.uniform(0, 1.2, n), -2),
         "employment_status": rx.pick(rng, n, EMPLOYMENT, [0.65, 0.12, 0.08, 0.1, 0.05]),
         "loan_amount": np.round(income * rng.uniform(0.05, 1.5, n), -2)}
    d["collateral_value"] = np.where(rng.random(n) < 0.4, np.round(d["loan_amount"] * rng.uniform(0.2, 1.5, n), -2), 0.0)
    d["previous_defaults"] = rng.binomial(4, 0.07, n)
    logit = (-2.2 + 2.5 * d["existing_debt"] / income + 1.2 * d["loan_amount"] / income - 0.006 * d["credit_history_length"]
             + 0.8 * d["previous_defaults"] - 0.8 * np.minimum(d["collateral_value"] / d["loan_amount"], 1.0)
             + rx.effect(d["employment_status"], dict(zip(EMPLOYMENT, (0, 0.3, 1.2, 0.1, 0.6)))))
    return pd.DataFrame({**d, "defaulted": rx.bernoulli(rng, logit)})


def credit_extra(r: Result) -> dict:
    p = r.positive
    score = round(850 - 550 * p)
    rating = "Excellent" if score >= 750 else "Good" if score >= 670 else "Fair" if score >= 580 else "Poor"
    return {"credit_score": score, "rating": rating, "approved": p < 0.3}


CREDIT = _industry(
    "finance", "credit-scoring", "Credit Scoring",
    "Estimates the probability of default of a loan application and maps it to a 300-850 score.",
    fields=(F("income", "number", "annual income", required=True, minimum=0, maximum=1e9),
            F("credit_history_length", "number", "credit history in months", required=True, minimum=0, maximum=1200),
            F("existing_debt", "number", "current debt amount", required=True, minimum=0, maximum=1e10),
            F("employment_status", "string", "employment status", required=True, choices=EMPLOYMENT),
            F("loan_amount", "number", "requested loan amount", required=True, minimum=1, maximum=1e10),
            F("collateral_value", "number", "collateral value", default=0.0, minimum=0, maximum=1e10),
            F("previous_defaults", "integer", "previous defaults", default=0, minimum=0, maximum=50)),
    derived=(Derived("debt_to_income", lambda d: d["existing_debt"] / np.maximum(d["income"], 1.0), ("existing_debt", "income")),
             Derived("loan_to_income", lambda d: d["loan_amount"] / np.maximum(d["income"], 1.0), ("loan_amount", "income")),
             Derived("collateral_cover", lambda d: np.minimum(d["collateral_value"] / np.maximum(d["loan_amount"], 1.0), 1.0),
                     ("collateral_value", "loan_amount"))),
    target="defaulted", explains="1 when the loan defaulted", simulate=credit_data, estimator=LGBM, seed=1201,
    respond=_binary("default_probability", cuts=(0.15, 0.35), extra=credit_extra),
    example={"income": 72000, "credit_history_length": 84, "existing_debt": 15000, "employment_status": "employed",
             "loan_amount": 25000, "collateral_value": 10000, "previous_defaults": 0},
)

MERCHANTS = ("grocery", "electronics", "travel", "restaurants", "online_services", "jewelry", "gas")


def fraud_data(rng, n):
    """Fraud (about 5%): log-odds -4.6 + 0.9 log10(amount/50) + 1.4 foreign - 1.0 card present + 0.12 per
    transaction in 24h + night (0-5h) 1.0 + 0.4 log10(1 + km) + risky merchant (electronics/jewelry +0.8,
    online +0.5) - 0.4 log10(1 + account days)."""
    d = {"amount": np.round(rx.lognormal(rng, n, 50, 1.2, 0.5, 50_000), 2), "merchant_category": rx.pick(rng, n, MERCHANTS),
         "hour_of_day": rx.integers(rng, n, 0, 23), "distance_from_home_km": np.round(rx.lognormal(rng, n, 8, 1.5, 0, 15_000), 1),
         "transactions_last_24h": rng.poisson(3, n), "is_foreign": rng.random(n) < 0.08,
         "card_present": rng.random(n) < 0.6, "account_age_days": rx.integers(rng, n, 1, 4000)}
    logit = (-3.2 + 0.9 * np.log10(d["amount"] / 50) + 1.4 * d["is_foreign"] - 1.0 * d["card_present"]
             + 0.12 * d["transactions_last_24h"] + 1.0 * (d["hour_of_day"] <= 5) + 0.4 * np.log10(1 + d["distance_from_home_km"])
             + rx.effect(d["merchant_category"], {"electronics": 0.8, "jewelry": 0.8, "online_services": 0.5, "travel": 0.3,
                                                   "grocery": 0, "restaurants": 0, "gas": 0})
             - 0.4 * np.log10(1 + d["account_age_days"]))
    return pd.DataFrame({**d, "fraud": rx.bernoulli(rng, logit)})


FRAUD = _industry(
    "finance", "fraud-detection", "Fraud Detection",
    "Scores a card transaction's probability of fraud.",
    fields=(F("amount", "number", "transaction amount", required=True, minimum=0, maximum=1e8),
            F("merchant_category", "string", "merchant category", required=True, choices=MERCHANTS),
            F("hour_of_day", "integer", "local hour (0-23)", default=12, minimum=0, maximum=23),
            F("distance_from_home_km", "number", "distance from the card holder's home", default=5.0, minimum=0, maximum=40_000),
            F("transactions_last_24h", "integer", "card transactions in the last 24 hours", default=3, minimum=0, maximum=10_000),
            F("is_foreign", "boolean", "made abroad", default=False),
            F("card_present", "boolean", "card physically present", default=True),
            F("account_age_days", "integer", "age of the account in days", default=730, minimum=0, maximum=40_000)),
    target="fraud", explains="1 when the transaction was fraudulent", simulate=fraud_data, estimator=LGBM, seed=1202,
    respond=_binary("fraud_probability", cuts=(0.2, 0.5), extra=lambda r: {"is_fraud": r.positive >= 0.5,
                                                                          "action": "block" if r.positive >= 0.5 else "review" if r.positive >= 0.2 else "approve"}),
    example={"amount": 1899.99, "merchant_category": "electronics", "hour_of_day": 3, "distance_from_home_km": 850,
             "transactions_last_24h": 9, "is_foreign": True, "card_present": False, "account_age_days": 45},
)

STRATEGIES = ("conservative", "balanced", "growth", "aggressive")
EXPERIENCE = ("none", "beginner", "intermediate", "expert")
ALLOCATIONS = {"conservative": (0.2, 0.6, 0.2), "balanced": (0.5, 0.4, 0.1), "growth": (0.7, 0.25, 0.05),
               "aggressive": (0.9, 0.1, 0.0)}


def investment_data(rng, n):
    """The strategy a suitability review chose, from a softmax of: risk tolerance and horizon push toward
    growth/aggressive, age and a missing emergency fund toward conservative, experience toward aggressive."""
    d = {"age": rx.integers(rng, n, 18, 85), "annual_income": np.round(rx.lognormal(rng, n, 60_000, 0.6, 0, 2e6), -2),
         "risk_tolerance": rx.uniform(rng, n, 1, 10, 1), "investment_horizon_years": rx.integers(rng, n, 1, 40),
         "has_emergency_fund": rng.random(n) < 0.6, "investment_experience": rx.pick(rng, n, EXPERIENCE, [0.25, 0.35, 0.3, 0.1])}
    xp = rx.effect(d["investment_experience"], dict(zip(EXPERIENCE, (0, 0.3, 0.6, 1.0))))
    risk = 0.45 * (d["risk_tolerance"] - 5.5) + 0.06 * (d["investment_horizon_years"] - 15) - 0.03 * (d["age"] - 45) \
        + 0.6 * d["has_emergency_fund"] + xp
    scores = {"conservative": -1.2 * risk, "balanced": 0.5 - 0.2 * np.abs(risk), "growth": 0.6 * risk,
              "aggressive": -1.0 + 1.2 * risk}
    return pd.DataFrame({**d, "strategy": rx.label_from_scores(rng, scores, 0.6)})


def investment_extra(r: Result) -> dict:
    mix = np.sum([np.array(ALLOCATIONS[k]) * p for k, p in r.probabilities.items()], axis=0)
    return {"allocation": {"stocks": round(float(mix[0]), 3), "bonds": round(float(mix[1]), 3), "cash": round(float(mix[2]), 3)}}


INVESTMENT = _industry(
    "finance", "investment-recommendation", "Investment Recommendation",
    "Recommends an investment strategy and a probability-weighted asset allocation.",
    fields=(F("age", "number", "investor age", required=True, minimum=18, maximum=120),
            F("risk_tolerance", "number", "risk tolerance (1-10)", required=True, minimum=1, maximum=10),
            F("investment_horizon_years", "number", "horizon in years", required=True, minimum=0, maximum=80),
            F("annual_income", "number", "annual income", default=60_000.0, minimum=0, maximum=1e9),
            F("has_emergency_fund", "boolean", "has an emergency fund", default=True),
            F("investment_experience", "string", "experience", default="beginner", choices=EXPERIENCE)),
    target="strategy", explains="the strategy chosen by a suitability review", simulate=investment_data,
    estimator=LGBM, seed=1203, respond=_choice("recommended_strategy", investment_extra),
    example={"age": 34, "risk_tolerance": 7, "investment_horizon_years": 25, "annual_income": 85000,
             "has_emergency_fund": True, "investment_experience": "intermediate"},
)

# Retail -----------------------------------------------------------------------------------------------


def _our_price(values: dict) -> float:
    """our own price (no price gap)"""
    return values["price"]


def _current_price(values: dict) -> float:
    """the current price"""
    return values["current_price"]


def demand_data(rng, n):
    """Next-week units = historical x seasonality x (price/competitor)^-1.8 x (1.35 if promotion)
    x (1 + 0.08 ln(stores/10)) x log-normal noise (sigma 0.12)."""
    historical = np.round(rx.lognormal(rng, n, 500, 1.2, 1, 1e6))
    price = np.round(rx.lognormal(rng, n, 20, 0.8, 0.5, 5000), 2)
    d = {"historical_demand": historical, "price": price, "competitor_price": np.round(price * rng.uniform(0.7, 1.3, n), 2),
         "promotion": rng.random(n) < 0.25, "seasonality_index": rx.uniform(rng, n, 0.5, 2.0),
         "store_count": rx.integers(rng, n, 1, 200)}
    units = (historical * d["seasonality_index"] * (price / d["competitor_price"]) ** -1.8 * np.where(d["promotion"], 1.35, 1.0)
             * (1 + 0.08 * np.log(d["store_count"] / 10)) * rx.noise(rng, n, 0.12))
    return pd.DataFrame({**d, "units": np.round(units)})


def demand_answer(r: Result) -> dict:
    block = out.forecast(r, "forecasted_demand", decimals=1)
    return out.answer(r, {**block, "recommended_stock": int(np.ceil(r.upper)),
                          "demand_change": round(r.value / max(r.values["historical_demand"], 1e-9) - 1, 4)})


DEMAND = _industry(
    "retail", "demand-forecasting", "Demand Forecasting",
    "Forecasts next-period unit demand with a 95% interval for inventory planning.",
    fields=(F("historical_demand", "number", "units sold last period", required=True, minimum=0, maximum=1e9),
            F("price", "number", "our price", required=True, minimum=0.01, maximum=1e7),
            F("competitor_price", "number", "competitor's price", default=_our_price, minimum=0.01, maximum=1e7),
            F("promotion", "boolean", "on promotion", default=False),
            F("seasonality_index", "number", "seasonal factor (0.5-2.0)", default=1.0, minimum=0.5, maximum=2.0),
            F("store_count", "integer", "stores selling it", default=10, minimum=1, maximum=100_000)),
    derived=(Derived("price_ratio", lambda d: d["price"] / np.maximum(d["competitor_price"], 0.01), ("price", "competitor_price")),),
    task="regression", target="units", explains="units sold next period", relative_to="historical_demand", interval=True,
    simulate=demand_data, estimator=LGBM, seed=1301, respond=demand_answer,
    example={"historical_demand": 1200, "price": 19.99, "competitor_price": 21.5, "promotion": True,
             "seasonality_index": 1.3, "store_count": 25},
)

CATEGORIES = ("grocery", "apparel", "electronics", "home", "beauty")


def price_data(rng, n):
    """The profit-maximising price found by price tests: unit cost x e/(e-1) for the elasticity e of the
    product (category base, +0.8 x competitor cheaper than cost markup, -0.6 x brand strength), capped,
    times log-normal noise (sigma 0.05); learned as a ratio to unit cost."""
    cost = np.round(rx.lognormal(rng, n, 15, 0.9, 0.2, 5000), 2)
    d = {"unit_cost": cost, "current_price": np.round(cost * rng.uniform(1.1, 2.5, n), 2),
         "competitor_price": np.round(cost * rng.uniform(1.1, 2.8, n), 2), "category": rx.pick(rng, n, CATEGORIES),
         "brand_strength": rx.uniform(rng, n, 1, 10, 1), "weekly_units": np.round(rx.lognormal(rng, n, 300, 1.0, 1, 1e6))}
    e = (rx.effect(d["category"], dict(zip(CATEGORIES, (3.5, 2.2, 2.8, 2.5, 1.9)))) - 0.12 * (d["brand_strength"] - 5)
         + 0.8 * np.clip(1.8 - d["competitor_price"] / cost, 0, None))
    e = np.clip(e, 1.3, 6.0)
    return pd.DataFrame({**d, "optimal_price": np.round(cost * e / (e - 1) * rx.noise(rng, n, 0.05), 2)})


def price_answer(r: Result) -> dict:
    block = out.forecast(r, "optimal_price")
    current, cost = r.values["current_price"], r.values["unit_cost"]
    return out.answer(r, {**block, "current_price": current, "price_change_pct": round(100 * (r.value / current - 1), 2),
                          "expected_margin_pct": round(100 * (1 - cost / r.value), 2) if r.value > 0 else None})


PRICE = _industry(
    "retail", "price-optimization", "Price Optimization",
    "Recommends the profit-maximising price (with a 95% interval) learned from price tests.",
    fields=(F("unit_cost", "number", "unit cost", required=True, minimum=0.01, maximum=1e7),
            F("current_price", "number", "current price", required=True, minimum=0.01, maximum=1e7),
            F("competitor_price", "number", "competitor's price", default=_current_price, minimum=0.01, maximum=1e7),
            F("category", "string", "product category", default="home", choices=CATEGORIES),
            F("brand_strength", "number", "brand strength (1-10)", default=5.0, minimum=1, maximum=10),
            F("weekly_units", "number", "units sold per week", default=300.0, minimum=0, maximum=1e9)),
    derived=(Derived("competitor_markup", lambda d: d["competitor_price"] / np.maximum(d["unit_cost"], 0.01),
                     ("competitor_price", "unit_cost")),),
    task="regression", target="optimal_price", explains="the profit-maximising price", relative_to="unit_cost",
    interval=True, simulate=price_data, estimator=LGBM, seed=1302, respond=price_answer,
    example={"unit_cost": 12.5, "current_price": 24.99, "competitor_price": 22.0, "category": "apparel",
             "brand_strength": 7, "weekly_units": 450},
)

SEGMENTS = ("champions", "loyal", "potential", "at_risk", "hibernating")
CHANNELS = ("online", "store", "omnichannel")
ACTIONS = {"champions": "reward and ask for referrals", "loyal": "upsell higher-value products",
           "potential": "offer membership or loyalty programme", "at_risk": "send a personalised win-back offer",
           "hibernating": "reactivate with a discount or let go"}


def segment_data(rng, n):
    """Segments as an RFM review would name them, from a softmax of recency, frequency and spend scores."""
    d = {"recency_days": rx.integers(rng, n, 0, 400), "frequency": rng.poisson(6, n) + 1,
         "monetary_value": np.round(rx.lognormal(rng, n, 600, 0.9, 5, 1e6), 2), "tenure_months": rx.integers(rng, n, 1, 120),
         "channel": rx.pick(rng, n, CHANNELS, [0.45, 0.35, 0.2])}
    r_ = -(d["recency_days"] - 90) / 60
    f_ = (d["frequency"] - 6) / 3
    m_ = np.log(d["monetary_value"] / 600)
    scores = {"champions": r_ + f_ + m_ - 1, "loyal": 0.5 * r_ + f_ + 0.3 * m_, "potential": r_ - 0.5 * f_ + 0.3 * (d["tenure_months"] < 12),
              "at_risk": -r_ + 0.7 * f_ + 0.5 * m_ - 0.5, "hibernating": -1.5 * r_ - f_}
    return pd.DataFrame({**d, "segment": rx.label_from_scores(rng, scores, 0.5)})


SEGMENT = _industry(
    "retail", "customer-segmentation", "Customer Segmentation",
    "Assigns a customer to an RFM segment with a recommended marketing action.",
    fields=(F("recency_days", "number", "days since the last purchase", required=True, minimum=0, maximum=10_000),
            F("frequency", "number", "purchases per year", required=True, minimum=0, maximum=10_000),
            F("monetary_value", "number", "spend per year", required=True, minimum=0, maximum=1e9),
            F("tenure_months", "number", "months as a customer", default=24.0, minimum=0, maximum=1200),
            F("channel", "string", "main purchase channel", default="online", choices=CHANNELS)),
    target="segment", explains="the RFM segment", simulate=segment_data, estimator=LGBM, seed=1303,
    respond=_choice("segment", lambda r: {"recommended_action": ACTIONS[r.label]}),
    example={"recency_days": 12, "frequency": 14, "monetary_value": 2400, "tenure_months": 36, "channel": "omnichannel"},
)

# Manufacturing --------------------------------------------------------------------------------------

GRADES = ("A", "B", "C")


def quality_data(rng, n):
    """Defect: log-odds -3 + 0.004 (temperature-200)^2 / 10 + 0.5 |pressure-5| + 0.03 (humidity-45)
    + 0.002 (speed-1200) + 0.6 vibration + grade (B +0.4, C +1.0) - 0.08 operator years."""
    d = {"temperature": rx.normal(rng, n, 200, 12, 150, 260), "pressure": rx.normal(rng, n, 5, 0.8, 1, 10, 2),
         "humidity": rx.uniform(rng, n, 20, 80, 1), "machine_speed": rx.normal(rng, n, 1200, 150, 600, 2000, 0),
         "vibration": np.round(rx.lognormal(rng, n, 1.0, 0.5, 0.05, 10), 2), "material_grade": rx.pick(rng, n, GRADES, [0.5, 0.35, 0.15]),
         "operator_experience_years": rx.uniform(rng, n, 0, 30, 1)}
    logit = (-3.0 + 0.0004 * (d["temperature"] - 200) ** 2 + 0.5 * np.abs(d["pressure"] - 5) + 0.03 * (d["humidity"] - 45)
             + 0.002 * (d["machine_speed"] - 1200) + 0.6 * d["vibration"] + rx.effect(d["material_grade"], {"A": 0, "B": 0.4, "C": 1.0})
             - 0.08 * d["operator_experience_years"] + 0.5)
    return pd.DataFrame({**d, "defect": rx.bernoulli(rng, logit)})


QUALITY = _industry(
    "manufacturing", "quality-control", "Quality Control",
    "Predicts the probability that a produced unit is defective from process parameters.",
    fields=(F("temperature", "number", "process temperature (°C)", required=True, minimum=-50, maximum=2000),
            F("pressure", "number", "pressure (bar)", required=True, minimum=0, maximum=1000),
            F("humidity", "number", "relative humidity (%)", default=45.0, minimum=0, maximum=100),
            F("machine_speed", "number", "machine speed (rpm)", default=1200.0, minimum=0, maximum=100_000),
            F("vibration", "number", "vibration (mm/s)", default=1.0, minimum=0, maximum=1000),
            F("material_grade", "string", "material grade", default="A", choices=GRADES),
            F("operator_experience_years", "number", "operator experience in years", default=5.0, minimum=0, maximum=60)),
    target="defect", explains="1 when the unit failed inspection", simulate=quality_data, estimator=LGBM, seed=1401,
    respond=_binary("defect_probability", cuts=(0.1, 0.3), extra=lambda r: {"quality": "fail" if r.positive >= 0.5 else "pass",
                                                                           "quality_score": round(100 * (1 - r.positive), 1)}),
    example={"temperature": 212, "pressure": 5.6, "humidity": 58, "machine_speed": 1350, "vibration": 1.8,
             "material_grade": "B", "operator_experience_years": 2},
)

EQUIPMENT = ("pump", "compressor", "conveyor", "motor", "press")


def maintenance_data(rng, n):
    """Failure within 30 days: log-odds -6 + 0.00008 operating hours + 0.05 (temperature-70) + 0.8 vibration
    + 0.012 days since maintenance + 0.25 errors + type (compressor +0.5, press +0.3)."""
    d = {"equipment_type": rx.pick(rng, n, EQUIPMENT), "operating_hours": rx.integers(rng, n, 0, 40_000),
         "temperature": rx.normal(rng, n, 70, 10, 20, 130), "vibration": np.round(rx.lognormal(rng, n, 1.2, 0.5, 0.05, 20), 2),
         "pressure": rx.normal(rng, n, 6, 1.2, 0, 15, 2), "days_since_maintenance": rx.integers(rng, n, 0, 365),
         "error_count_30d": rng.poisson(1.5, n)}
    logit = (-6.0 + 0.00008 * d["operating_hours"] + 0.05 * (d["temperature"] - 70) + 0.8 * d["vibration"]
             + 0.012 * d["days_since_maintenance"] + 0.25 * d["error_count_30d"] + 0.1 * np.abs(d["pressure"] - 6)
             + rx.effect(d["equipment_type"], {"pump": 0, "compressor": 0.5, "conveyor": -0.2, "motor": 0, "press": 0.3}))
    return pd.DataFrame({**d, "failed": rx.bernoulli(rng, logit)})


def maintenance_extra(r: Result) -> dict:
    p = r.positive
    return {"maintenance_needed": p >= 0.5, "health_score": round(100 * (1 - p), 1),
            "recommended_within_days": 3 if p >= 0.7 else 7 if p >= 0.5 else 14 if p >= 0.3 else 30}


MAINTENANCE = _industry(
    "manufacturing", "predictive-maintenance", "Predictive Maintenance",
    "Predicts the probability that equipment fails within 30 days, and when to service it.",
    fields=(F("equipment_type", "string", "equipment type", required=True, choices=EQUIPMENT),
            F("operating_hours", "number", "operating hours", required=True, minimum=0, maximum=1e6),
            F("temperature", "number", "operating temperature (°C)", required=True, minimum=-50, maximum=500),
            F("vibration", "number", "vibration (mm/s)", required=True, minimum=0, maximum=1000),
            F("pressure", "number", "pressure (bar)", default=6.0, minimum=0, maximum=1000),
            F("days_since_maintenance", "number", "days since the last service", default=90.0, minimum=0, maximum=10_000),
            F("error_count_30d", "integer", "error events in 30 days", default=1, minimum=0, maximum=100_000)),
    target="failed", explains="1 when the equipment failed within 30 days", simulate=maintenance_data, estimator=LGBM,
    seed=1402, respond=_binary("failure_probability", extra=maintenance_extra),
    example={"equipment_type": "compressor", "operating_hours": 18500, "temperature": 84, "vibration": 2.9,
             "pressure": 7.1, "days_since_maintenance": 160, "error_count_30d": 4},
)

MODES = ("road", "rail", "sea", "air")


def supply_data(rng, n):
    """Actual lead time = quoted x (1 + 0.6 (1 - reliability)) x mode factor (sea 1.15, air 0.9)
    x (1 + 0.05 log10(1 + km/100)) x (1 + 0.1 order size / 10k) x log-normal noise (sigma 0.1)."""
    d = {"quoted_lead_time_days": rx.integers(rng, n, 1, 90), "supplier_reliability": rx.uniform(rng, n, 0.5, 1.0, 3),
         "distance_km": np.round(rx.lognormal(rng, n, 800, 1.2, 1, 20_000)), "transport_mode": rx.pick(rng, n, MODES, [0.5, 0.2, 0.2, 0.1]),
         "order_quantity": rx.integers(rng, n, 10, 20_000), "daily_demand": np.round(rx.lognormal(rng, n, 40, 1.0, 0.1, 1e5), 1)}
    actual = (d["quoted_lead_time_days"] * (1 + 0.6 * (1 - d["supplier_reliability"]))
              * rx.effect(d["transport_mode"], {"road": 1.0, "rail": 1.05, "sea": 1.15, "air": 0.9})
              * (1 + 0.05 * np.log10(1 + d["distance_km"] / 100)) * (1 + 0.1 * d["order_quantity"] / 10_000) * rx.noise(rng, n, 0.1))
    return pd.DataFrame({**d, "actual_lead_time_days": np.round(actual, 1)})


def supply_answer(r: Result) -> dict:
    block = out.forecast(r, "predicted_lead_time_days", decimals=1)
    demand, quoted = r.values["daily_demand"], r.values["quoted_lead_time_days"]
    return out.answer(r, {**block, "expected_delay_days": round(r.value - quoted, 1),
                          "reorder_point": int(np.ceil(demand * r.upper)),
                          "safety_stock": int(np.ceil(demand * max(r.upper - r.value, 0.0)))})


SUPPLY = _industry(
    "manufacturing", "supply-chain-optimization", "Supply Chain Optimization",
    "Predicts the real supplier lead time (95% interval) and the reorder point and safety stock it implies.",
    fields=(F("quoted_lead_time_days", "number", "lead time quoted by the supplier", required=True, minimum=0.5, maximum=1000),
            F("daily_demand", "number", "units used per day", required=True, minimum=0, maximum=1e9),
            F("supplier_reliability", "number", "share of past orders on time (0-1)", default=0.9, minimum=0, maximum=1),
            F("distance_km", "number", "shipping distance", default=800.0, minimum=0, maximum=40_000),
            F("transport_mode", "string", "transport mode", default="road", choices=MODES),
            F("order_quantity", "number", "units per order", default=1000.0, minimum=1, maximum=1e9)),
    task="regression", target="actual_lead_time_days", explains="the real lead time in days",
    relative_to="quoted_lead_time_days", interval=True, simulate=supply_data, estimator=LGBM, seed=1403, respond=supply_answer,
    example={"quoted_lead_time_days": 21, "daily_demand": 120, "supplier_reliability": 0.82, "distance_km": 6500,
             "transport_mode": "sea", "order_quantity": 5000},
)

# SaaS -----------------------------------------------------------------------------------------------


def engagement_data(rng, n):
    """Engagement score (0-100) = 20 + 1.2 logins + 0.6 session minutes + 2.5 features used + plan
    (pro +6, enterprise +10) + 3 log(team) - 1.5 tickets - 0.01 days since signup + N(0, 6)."""
    d = {"logins_last_30d": rx.integers(rng, n, 0, 30), "avg_session_minutes": rx.uniform(rng, n, 0, 60, 1),
         "features_used": rx.integers(rng, n, 0, 20), "plan": rx.pick(rng, n, PLANS, [0.4, 0.3, 0.2, 0.1]),
         "team_size": rx.integers(rng, n, 1, 200), "support_tickets_30d": rng.poisson(1, n),
         "days_since_signup": rx.integers(rng, n, 1, 1500)}
    score = (20 + 1.2 * d["logins_last_30d"] + 0.6 * d["avg_session_minutes"] + 2.5 * d["features_used"]
             + rx.effect(d["plan"], dict(zip(PLANS, (0, 2, 6, 10)))) + 3 * np.log(d["team_size"]) - 1.5 * d["support_tickets_30d"]
             - 0.01 * d["days_since_signup"] + rng.normal(0, 6, n))
    return pd.DataFrame({**d, "engagement": np.round(np.clip(score, 0, 100), 1)})


def engagement_answer(r: Result) -> dict:
    score = float(np.clip(r.value, 0, 100))
    return out.answer(r, {"engagement_score": round(score, 1),
                          "engagement_level": out.level(score / 100, (0.4, 0.7)),
                          "key_drivers": r.factors(3, sign=+1), "risk_factors": r.factors(3, sign=-1)})


ENGAGEMENT = _industry(
    "saas", "user-engagement", "User Engagement Prediction",
    "Predicts a user's engagement score (0-100) for the coming month.",
    fields=(F("logins_last_30d", "number", "logins in the last 30 days", required=True, minimum=0, maximum=10_000),
            F("avg_session_minutes", "number", "average session length in minutes", required=True, minimum=0, maximum=1440),
            F("features_used", "integer", "distinct features used", required=True, minimum=0, maximum=1000),
            F("plan", "string", "subscription plan", default="basic", choices=PLANS),
            F("team_size", "integer", "seats on the account", default=5, minimum=1, maximum=1_000_000),
            F("support_tickets_30d", "integer", "support tickets in 30 days", default=0, minimum=0, maximum=10_000),
            F("days_since_signup", "number", "days since signup", default=180.0, minimum=0, maximum=100_000)),
    task="regression", target="engagement", explains="next month's engagement score (0-100)", simulate=engagement_data,
    estimator=Estimator("linear"), seed=1501, respond=engagement_answer,
    example={"logins_last_30d": 18, "avg_session_minutes": 22.5, "features_used": 7, "plan": "pro", "team_size": 12,
             "support_tickets_30d": 1, "days_since_signup": 240},
)

FEATURE_KINDS = ("reporting", "integrations", "automation", "collaboration", "analytics")


def adoption_data(rng, n):
    """Adoption within 30 days: log-odds -2 + 0.35 similar features adopted + 0.05 logins + 1.0 guide seen
    + plan (pro +0.5, enterprise +0.8) + category (automation -0.4, collaboration +0.3) - 0.0005 tenure days."""
    d = {"feature_category": rx.pick(rng, n, FEATURE_KINDS), "similar_features_adopted": rx.integers(rng, n, 0, 8),
         "logins_last_30d": rx.integers(rng, n, 0, 30), "guide_seen": rng.random(n) < 0.4,
         "plan": rx.pick(rng, n, PLANS, [0.4, 0.3, 0.2, 0.1]), "tenure_days": rx.integers(rng, n, 1, 2000),
         "team_size": rx.integers(rng, n, 1, 200)}
    logit = (-2.0 + 0.35 * d["similar_features_adopted"] + 0.05 * d["logins_last_30d"] + 1.0 * d["guide_seen"]
             + rx.effect(d["plan"], dict(zip(PLANS, (0, 0.2, 0.5, 0.8))))
             + rx.effect(d["feature_category"], {"reporting": 0, "integrations": 0, "automation": -0.4, "collaboration": 0.3, "analytics": 0.1})
             - 0.0005 * d["tenure_days"] + 0.1 * np.log(d["team_size"]))
    return pd.DataFrame({**d, "adopted": rx.bernoulli(rng, logit)})


ADOPTION = _industry(
    "saas", "feature-adoption", "Feature Adoption Prediction",
    "Predicts the probability that an account adopts a feature within 30 days.",
    fields=(F("feature_category", "string", "kind of feature", required=True, choices=FEATURE_KINDS),
            F("similar_features_adopted", "integer", "similar features already adopted", required=True, minimum=0, maximum=1000),
            F("logins_last_30d", "number", "logins in the last 30 days", default=10.0, minimum=0, maximum=10_000),
            F("guide_seen", "boolean", "saw the in-app guide", default=False),
            F("plan", "string", "subscription plan", default="basic", choices=PLANS),
            F("tenure_days", "number", "days as a customer", default=365.0, minimum=0, maximum=100_000),
            F("team_size", "integer", "seats on the account", default=5, minimum=1, maximum=1_000_000)),
    target="adopted", explains="1 when the feature was adopted within 30 days", simulate=adoption_data,
    estimator=Estimator("linear"), seed=1502,
    respond=_binary("adoption_probability", level_name="adoption_level",
                    extra=lambda r: {"likely_to_adopt": r.positive >= 0.5}),
    example={"feature_category": "automation", "similar_features_adopted": 3, "logins_last_30d": 21, "guide_seen": True,
             "plan": "pro", "tenure_days": 410, "team_size": 15},
)


def expansion_data(rng, n):
    """Expansion within 90 days: log-odds -2.5 + 4 (seat utilisation - 0.8) + 0.02 usage growth % + 0.015 NPS
    + plan (basic +0.3, pro +0.4) - 0.3 tickets + 0.3 log10(MRR/500)."""
    seats = rx.integers(rng, n, 1, 500)
    d = {"current_mrr": np.round(seats * rx.lognormal(rng, n, 40, 0.4, 5, 500), 2), "seats_purchased": seats,
         "seats_used": np.minimum(np.round(seats * rng.uniform(0.3, 1.05, n)), seats * 1.05).astype(int),
         "usage_growth_pct": rx.normal(rng, n, 5, 20, -80, 200), "nps_score": rx.integers(rng, n, -100, 100),
         "plan": rx.pick(rng, n, PLANS[1:], [0.45, 0.4, 0.15]), "support_tickets_30d": rng.poisson(1.5, n)}
    logit = (-2.5 + 4 * (d["seats_used"] / seats - 0.8) + 0.02 * d["usage_growth_pct"] + 0.015 * d["nps_score"]
             + rx.effect(d["plan"], {"basic": 0.3, "pro": 0.4, "enterprise": 0}) - 0.3 * d["support_tickets_30d"]
             + 0.3 * np.log10(d["current_mrr"] / 500))
    return pd.DataFrame({**d, "expanded": rx.bernoulli(rng, logit)})


EXPANSION = _industry(
    "saas", "expansion-prediction", "Expansion Revenue Prediction",
    "Predicts the probability that an account expands (more seats or a higher plan) within 90 days.",
    fields=(F("current_mrr", "number", "monthly recurring revenue", required=True, minimum=0, maximum=1e9),
            F("seats_purchased", "integer", "seats purchased", required=True, minimum=1, maximum=10_000_000),
            F("seats_used", "integer", "seats in use", required=True, minimum=0, maximum=10_000_000),
            F("usage_growth_pct", "number", "usage growth over 90 days (%)", default=0.0, minimum=-100, maximum=10_000),
            F("nps_score", "number", "net promoter score (-100..100)", default=0.0, minimum=-100, maximum=100),
            F("plan", "string", "subscription plan", default="basic", choices=PLANS[1:]),
            F("support_tickets_30d", "integer", "support tickets in 30 days", default=1, minimum=0, maximum=10_000)),
    derived=(Derived("seat_utilization", lambda d: d["seats_used"] / np.maximum(d["seats_purchased"], 1),
                     ("seats_used", "seats_purchased")),),
    target="expanded", explains="1 when the account expanded within 90 days", simulate=expansion_data, estimator=LGBM,
    seed=1503, respond=_binary("expansion_probability", level_name="opportunity_level",
                               extra=lambda r: {"likely_to_expand": r.positive >= 0.5,
                                                "expected_expansion_mrr": round(r.positive * 0.3 * r.values["current_mrr"], 2)}),
    example={"current_mrr": 4800, "seats_purchased": 60, "seats_used": 58, "usage_growth_pct": 35, "nps_score": 45,
             "plan": "pro", "support_tickets_30d": 0},
)

INDUSTRY = (RISK, TREATMENT, OUTCOME, CREDIT, FRAUD, INVESTMENT, DEMAND, PRICE, SEGMENT, QUALITY, MAINTENANCE, SUPPLY,
            ENGAGEMENT, ADOPTION, EXPANSION)
