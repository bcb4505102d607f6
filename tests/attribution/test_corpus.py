"""The labelled credit corpus, scored through the real normalisation: the goals of issue 13.

Recall ≥ 95 % of labelled credits, precision ≥ 98 %, no credit read from a negative text. The report (the
same as `python -m bench attribution`) is printed, so `pytest -s` shows every miss and every invention.
"""

from __future__ import annotations

import pytest

from bench.attribution import describe, load, score

MIN_RECALL = 0.95
MIN_PRECISION = 0.98


def test_corpus_size_and_coverage() -> None:
    positives, negatives = load()
    assert len(positives) >= 150 and len(negatives) >= 50
    kinds = {k for item in positives for k in item.expect}
    assert kinds == {"agency", "source", "place", "date", "byline", "photo"}
    text = " ".join(i.body for i in positives)
    for agency in ("Reuters", "(AP)", "AFP", "dpa", "(AA)", "Xinhua", "TASS", "Interfax", "Turan", "AZERTAC",
                   "APA", "Trend", "Report", "ARMENPRESS", "ARKA", "news.am", "Interpressnews", "Agenda.ge",
                   "Civil.ge", "KAZINFORM", "24.kg", "Eurasianet", "OC Media", "JAMnews", "commonspace.eu"):
        assert agency in text, agency
    for word in ("Mənbə", "Источник", "Фото:", "წყარო", "Աղբյուր", "ფოტო", "<figcaption>", "<br>", "<strong>"):
        assert word in text, word


def test_corpus_scores_meet_the_goals() -> None:
    positives, negatives = load()
    s = score(positives, negatives)
    report = "\n".join(describe(s))
    print(report)
    assert s.on_negatives == [], report
    assert s.recall >= MIN_RECALL, report
    assert s.precision >= MIN_PRECISION, report


@pytest.mark.parametrize("kind", ["agency", "source", "place", "date", "byline", "photo"])
def test_every_kind_is_read(kind: str) -> None:
    positives, negatives = load()
    s = score([p for p in positives if kind in p.expect], [])
    assert s.expected[kind] and s.matched[kind] / s.expected[kind] >= MIN_RECALL, "\n".join(describe(s))
