"""The text models: sentiment (VADER + an emotion lexicon) and keywords (YAKE + topics + textstat).

Both are deterministic and load nothing from the network: VADER's and YAKE's data ship in their
wheels; the emotion and topic lexicons are modelyard's own small files in ``gallery/data/`` (no
emotion-lexicon package installs offline from PyPI without a runtime corpus download, and the NRC
lexicon's licence is research-only, so the gallery ships its own; docs/gallery.md describes them).

Sentiment: VADER's compound score (-1..1); positive at >= 0.05, negative at <= -0.05, else neutral
(VADER's own thresholds). Confidence: 0.5 + |compound|/2 for positive/negative, 1 - 10 |compound| for
neutral. Emotions: each emotion's share of the lexicon hits among the text's words (a word within
three words after a negation does not count); all 0 when no word hits. ``keywords``: the words whose
VADER valence drove the score (sign of the sentiment; strongest first).

Keywords: YAKE phrases of up to three words; ``score`` = 1 / (1 + YAKE score) (YAKE: lower is more
relevant); ``frequency`` counts case-insensitive whole-phrase occurrences. Topics: the topics whose
lexicon words occur most in the text (at most three). Summary: the sentence(s) holding the most
keyword weight, in text order (one sentence, two from six sentences on), at most 300 characters.
``readability_score``: textstat's Flesch-Kincaid grade level.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from functools import lru_cache
from importlib import resources
from typing import Any

from modelyard.gallery.declarations import Declaration, Result
from modelyard.gallery.schema import Field
from modelyard.serving.versions import VersionRef

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
SENTENCE = re.compile(r"(?<=[.!?])\s+")
NEGATIONS = {
    "not",
    "no",
    "never",
    "nothing",
    "nobody",
    "neither",
    "nor",
    "without",
    "hardly",
    "isn't",
    "wasn't",
    "don't",
    "doesn't",
    "didn't",
    "can't",
    "couldn't",
    "won't",
    "wouldn't",
    "aren't",
    "weren't",
    "shouldn't",
}
EMOTIONS = ("joy", "anger", "fear", "sadness", "surprise")
_yake_lock = threading.Lock()


@lru_cache(maxsize=None)
def _lexicon(name: str) -> dict[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    for line in resources.files("modelyard.gallery").joinpath("data").joinpath(name).read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            word, label = line.split("\t")
            table.setdefault(word, []).append(label)
    return {k: tuple(v) for k, v in table.items()}


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> dict[str, Any]:
    analyzer = _vader()  # keeps no state between calls: shared by every thread
    compound = float(analyzer.polarity_scores(text)["compound"])
    label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
    confidence = 0.5 + abs(compound) / 2 if label != "neutral" else 1.0 - 10 * abs(compound)
    words = WORD.findall(text.lower())
    lexicon, hits = _lexicon("emotion_lexicon.tsv"), Counter()
    for i, word in enumerate(words):
        if any(w in NEGATIONS or w.endswith("n't") for w in words[max(0, i - 3) : i]):
            continue
        for emotion in lexicon.get(word, ()):
            hits[emotion] += 1
    total = sum(hits[e] for e in EMOTIONS)
    emotions = {e: round(hits[e] / total, 4) if total else 0.0 for e in EMOTIONS}
    valence = {w: analyzer.lexicon[w] for w in dict.fromkeys(words) if w in analyzer.lexicon}
    sign = {"positive": 1, "negative": -1}.get(label, 0)
    drivers = [w for w, v in valence.items() if v * sign > 0 or sign == 0]
    drivers.sort(key=lambda w: (-abs(valence[w]), w))
    return {
        "sentiment": label,
        "confidence": round(confidence, 4),
        "score": round(compound, 4),
        "emotions": emotions,
        "keywords": drivers[:5],
    }


@lru_cache(maxsize=64)
def _extractor(top: int):
    import yake

    return yake.KeywordExtractor(lan="en", n=3, dedupLim=0.9, top=top)


def keywords(text: str, max_keywords: int = 10) -> dict[str, Any]:
    import textstat

    with _yake_lock:  # an extractor keeps caches that it clears now and then: one call at a time
        found = _extractor(max_keywords).extract_keywords(text)
    lowered = text.lower()
    items = []
    for phrase, score in found:
        frequency = len(re.findall(r"(?<!\w)" + re.escape(phrase.lower()) + r"(?!\w)", lowered))
        items.append({"word": phrase, "score": round(1.0 / (1.0 + float(score)), 4), "frequency": max(1, frequency)})
    topic_words, counts = _lexicon("topic_lexicon.tsv"), Counter()
    for word in WORD.findall(lowered):
        for topic in topic_words.get(word, ()):
            counts[topic] += 1
    topics = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
    return {
        "keywords": items,
        "topics": topics,
        "summary": _summary(text, items),
        "readability_score": round(float(textstat.flesch_kincaid_grade(text)), 1),
    }


def _summary(text: str, items: list[dict[str, Any]]) -> str:
    sentences = [s.strip() for s in SENTENCE.split(text.strip()) if s.strip()]
    if not sentences:
        return ""
    weight = [sum(k["score"] for k in items if k["word"].lower() in s.lower()) for s in sentences]
    keep = 2 if len(sentences) >= 6 else 1
    best = sorted(sorted(range(len(sentences)), key=lambda i: (-weight[i], i))[:keep])
    summary = " ".join(sentences[i] for i in best)
    return summary if len(summary) <= 300 else summary[:297].rsplit(" ", 1)[0] + "..."


@lru_cache(maxsize=None)
def version_ref(name: str) -> VersionRef:
    """How a text model is named where predictions are recorded (metrics, activity): `builtin:<name>`, version 1
    (it has no registry entry: nothing is trained)."""
    return VersionRef(
        id=f"builtin:{name}",
        model_id=f"builtin:{name}",
        name=name,
        number=1,
        label="1",
        status="deployed",
        format="text",
        task="text",
        owner_id=0,
        artifact_key="",
        signature=[],
        classes=None,
        feature_table=None,
        training_data=None,
        serving=None,
        builtin=True,
    )


def respond(decl: Declaration, values: dict[str, Any]) -> dict[str, Any]:
    result = Result(decl, values, [k for k in values], "v1.0")
    return decl.respond(result)


def _sentiment_answer(r: Result) -> dict[str, Any]:
    return {"model": "sentiment_analysis_v1", "prediction": {**sentiment(r.values["text"]), "model_version": r.version}}


def _keywords_answer(r: Result) -> dict[str, Any]:
    found = keywords(r.values["text"], int(r.values["max_keywords"]))
    return {"model": "keyword_extraction_v1", "prediction": {**found, "model_version": r.version}}


TEXT_FIELD = Field("text", "text", "text to analyze", required=True, max_length=10_000)
SENTIMENT = Declaration(
    name="sentiment",
    title="Sentiment Analysis",
    contract_id="sentiment_analysis",
    kind="text",
    credits=1,
    path="/api/predict/sentiment",
    fields=(TEXT_FIELD,),
    respond=_sentiment_answer,
    description="Text sentiment (VADER), emotion shares from a lexicon, and the words that drove the score.",
    example={"text": "This product is amazing! Perfect fit and excellent quality."},
)
KEYWORDS = Declaration(
    name="keywords",
    title="Keyword Extraction",
    contract_id="keyword_extraction",
    kind="text",
    credits=1,
    path="/api/predict/keywords",
    respond=_keywords_answer,
    fields=(
        TEXT_FIELD,
        Field("max_keywords", "integer", "maximum keywords to extract", default=10, minimum=1, maximum=50),
    ),
    description="Keywords (YAKE), topics from a lexicon, a short extractive summary and a readability grade.",
    example={
        "text": "Machine learning algorithms are changing how companies work. With machine learning, "
        "algorithms learn from business data and improve business efficiency. Teams automate "
        "routine processes, and machine learning models help managers decide faster.",
        "max_keywords": 5,
    },
)
TEXT = (SENTIMENT, KEYWORDS)
