"""Healthcare: risk assessment, treatment recommendation, patient outcome.

Each recipe's docstring states its ground truth.
"""

from __future__ import annotations

import pandas as pd

from modelyard.gallery import recipes as rx
from modelyard.gallery.industries.common import F, LGBM, choice, declare, yes_no

GENDERS, SMOKING = ("male", "female", "other"), ("never", "former", "current")
HISTORY = ("heart_disease", "diabetes", "stroke", "hypertension", "cancer")


def risk_data(rng, n):
    """10-year cardiovascular event: log-odds -5.2 + 0.06 (age-50) + 0.08 (bmi-26) + 0.025 (systolic-125)
    + 0.015 (diastolic-80) + 0.006 (cholesterol-200) + 0.7 diabetes + smoking (former 0.3, current 0.9)
    + 0.35 per family condition + 0.25 male."""
    age = rx.integers(rng, n, 18, 90)
    d = {
        "age": age,
        "gender": rx.pick(rng, n, GENDERS, [0.49, 0.49, 0.02]),
        "bmi": rx.normal(rng, n, 27, 5, 15, 50),
        "blood_pressure_systolic": rx.normal(rng, n, 110 + 0.4 * age, 15, 85, 210, 0),
        "blood_pressure_diastolic": rx.normal(rng, n, 78, 10, 50, 130, 0),
        "cholesterol": rx.normal(rng, n, 200, 35, 110, 350, 0),
        "diabetes": rng.random(n) < 0.12,
        "smoking_status": rx.pick(rng, n, SMOKING, [0.6, 0.25, 0.15]),
        "family_history": rng.binomial(3, 0.15, n),
    }
    logit = (
        -2.4
        + 0.06 * (age - 50)
        + 0.08 * (d["bmi"] - 26)
        + 0.025 * (d["blood_pressure_systolic"] - 125)
        + 0.015 * (d["blood_pressure_diastolic"] - 80)
        + 0.006 * (d["cholesterol"] - 200)
        + 0.7 * d["diabetes"]
        + rx.effect(d["smoking_status"], {"never": 0, "former": 0.3, "current": 0.9})
        + 0.35 * d["family_history"]
        + 0.25 * (d["gender"] == "male")
    )
    return pd.DataFrame({**d, "event": rx.bernoulli(rng, logit)})


RISK = declare(
    "healthcare",
    "risk-assessment",
    "Healthcare Risk Assessment",
    "Estimates a patient's 10-year cardiovascular risk from vital signs and history.",
    fields=(
        F("age", "number", "patient age", required=True, minimum=0, maximum=120),
        F("gender", "string", "gender", required=True, choices=GENDERS),
        F("bmi", "number", "body mass index", required=True, minimum=10, maximum=80),
        F(
            "blood_pressure_systolic",
            "number",
            "systolic blood pressure (mmHg)",
            required=True,
            minimum=60,
            maximum=260,
        ),
        F(
            "blood_pressure_diastolic",
            "number",
            "diastolic blood pressure (mmHg)",
            required=True,
            minimum=30,
            maximum=160,
        ),
        F("cholesterol", "number", "total cholesterol (mg/dL)", default=200.0, minimum=80, maximum=500),
        F("diabetes", "boolean", "has diabetes", default=False),
        F("smoking_status", "string", "smoking status", default="never", choices=SMOKING),
        F("family_history", "object", "family medical history: true/false per condition", default=None, keys=HISTORY),
    ),
    target="event",
    explains="1 when a cardiovascular event occurred within 10 years",
    simulate=risk_data,
    estimator=LGBM,
    seed=1101,
    respond=yes_no("risk_probability", cuts=(0.1, 0.2), extra=lambda r: {"risk_score": round(100 * r.positive, 1)}),
    example={
        "age": 58,
        "gender": "male",
        "bmi": 29.4,
        "blood_pressure_systolic": 145,
        "blood_pressure_diastolic": 92,
        "cholesterol": 240,
        "diabetes": False,
        "smoking_status": "former",
        "family_history": {"heart_disease": True, "diabetes": False},
    },
)

TREATMENTS = ("lifestyle", "medication", "combination", "specialist_referral")
RESPONSES = ("none", "poor", "partial", "good")


def treatment_data(rng, n):
    """The treatment that worked, drawn from a softmax of scores: lifestyle for mild, young patients;
    medication as severity rises; combination with comorbidities or a poor earlier response; referral
    for severe cases with low kidney function."""
    d = {
        "age": rx.integers(rng, n, 18, 90),
        "condition_severity": rx.uniform(rng, n, 1, 10, 1),
        "comorbidities": rx.integers(rng, n, 0, 5),
        "bmi": rx.normal(rng, n, 27, 5, 15, 50),
        "kidney_function": rx.normal(rng, n, 85, 20, 15, 130, 0),
        "previous_response": rx.pick(rng, n, RESPONSES, [0.4, 0.2, 0.25, 0.15]),
    }
    poor = rx.effect(d["previous_response"], {"none": 0, "poor": 1.0, "partial": 0.5, "good": -0.5})
    scores = {
        "lifestyle": 3.0
        - 0.5 * d["condition_severity"]
        - 0.02 * (d["age"] - 50)
        + 0.5 * (d["previous_response"] == "good"),
        "medication": 0.6 + 0.25 * d["condition_severity"] - 0.3 * d["comorbidities"],
        "combination": -1.0 + 0.2 * d["condition_severity"] + 0.5 * d["comorbidities"] + poor,
        "specialist_referral": -3.0 + 0.45 * d["condition_severity"] - 0.04 * (d["kidney_function"] - 85),
    }
    return pd.DataFrame({**d, "treatment": rx.label_from_scores(rng, scores, 0.7)})


TREATMENT = declare(
    "healthcare",
    "treatment-recommendation",
    "Treatment Recommendation",
    "Recommends a treatment path (lifestyle, medication, combination, specialist referral) from a patient profile.",
    fields=(
        F("age", "number", "patient age", required=True, minimum=0, maximum=120),
        F("condition_severity", "number", "severity of the condition (1-10)", required=True, minimum=1, maximum=10),
        F("comorbidities", "integer", "number of other chronic conditions", default=0, minimum=0, maximum=20),
        F("bmi", "number", "body mass index", default=27.0, minimum=10, maximum=80),
        F("kidney_function", "number", "eGFR (mL/min/1.73m²)", default=85.0, minimum=5, maximum=150),
        F("previous_response", "string", "response to earlier treatment", default="none", choices=RESPONSES),
    ),
    target="treatment",
    explains="the treatment path that worked",
    simulate=treatment_data,
    estimator=LGBM,
    seed=1102,
    respond=choice("recommended_treatment"),
    example={
        "age": 52,
        "condition_severity": 6.5,
        "comorbidities": 2,
        "bmi": 31,
        "kidney_function": 70,
        "previous_response": "partial",
    },
)

PLANS_OF_CARE = ("surgery", "medication", "physical_therapy", "observation")


def outcome_data(rng, n):
    """Favorable outcome: log-odds 2.2 - 0.03 (age-50) - 0.3 severity + 2.0 adherence - 0.35 comorbidities
    + plan effect (surgery -0.3, therapy +0.2) - 0.1 (stay-5)."""
    d = {
        "age": rx.integers(rng, n, 18, 95),
        "treatment_plan": rx.pick(rng, n, PLANS_OF_CARE),
        "condition_severity": rx.uniform(rng, n, 1, 10, 1),
        "comorbidities": rx.integers(rng, n, 0, 5),
        "adherence": rx.uniform(rng, n, 0, 1),
        "length_of_stay": rx.integers(rng, n, 0, 30),
    }
    logit = (
        1.8
        - 0.03 * (d["age"] - 50)
        - 0.3 * d["condition_severity"]
        + 2.0 * d["adherence"]
        - 0.35 * d["comorbidities"]
        + rx.effect(
            d["treatment_plan"], {"surgery": -0.3, "medication": 0, "physical_therapy": 0.2, "observation": 0.1}
        )
        - 0.1 * (d["length_of_stay"] - 5)
        + 1.0
    )
    return pd.DataFrame({**d, "favorable": rx.bernoulli(rng, logit)})


OUTCOME = declare(
    "healthcare",
    "patient-outcome",
    "Patient Outcome Prediction",
    "Predicts the probability of a favorable outcome of a treatment plan.",
    fields=(
        F("age", "number", "patient age", required=True, minimum=0, maximum=120),
        F("treatment_plan", "string", "planned treatment", required=True, choices=PLANS_OF_CARE),
        F("condition_severity", "number", "severity (1-10)", required=True, minimum=1, maximum=10),
        F("comorbidities", "integer", "other chronic conditions", default=0, minimum=0, maximum=20),
        F("adherence", "number", "expected adherence (0-1)", default=0.7, minimum=0, maximum=1),
        F("length_of_stay", "integer", "days in hospital", default=3, minimum=0, maximum=365),
    ),
    target="favorable",
    explains="1 when the outcome was favorable",
    simulate=outcome_data,
    estimator=LGBM,
    seed=1103,
    respond=yes_no(
        "success_probability",
        level_name="success_level",
        extra=lambda r: {"outcome": "favorable" if r.positive >= 0.5 else "unfavorable"},
    ),
    example={
        "age": 67,
        "treatment_plan": "surgery",
        "condition_severity": 7,
        "comorbidities": 1,
        "adherence": 0.8,
        "length_of_stay": 4,
    },
)

MODELS = (RISK, TREATMENT, OUTCOME)
