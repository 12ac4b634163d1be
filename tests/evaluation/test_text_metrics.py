"""BLEU and chrF are sacreBLEU's, ROUGE works for accented and Chinese text, and metrics are split by language."""

import pytest
import sacrebleu

from ftscale.evaluation.text_metrics import UnicodeWordTokenizer, bleu_tokenizer, score_texts


def f_measure(matches: int, hypothesis_tokens: int, reference_tokens: int) -> float:
    """ROUGE F1 on a 0-100 scale from a count of matching tokens (LCS length or n-gram overlap)."""
    precision, recall = matches / hypothesis_tokens, matches / reference_tokens
    return 100 * 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize(
    ("language", "hypothesis", "reference", "lcs", "hypothesis_tokens", "reference_tokens"),
    [
        # die Übersetzung ... gut
        ("de", "Die Übersetzung war gut.", "Die Übersetzung ist sehr gut.", 3, 4, 5),
        # café très chaud
        ("fr", "Café très chaud", "Le café est très chaud", 3, 3, 5),
        # "año" and "ano" are different words: el ... pasado
        ("es", "el año pasado", "el ano pasado", 2, 3, 3),
        # one token per character: 机器翻译 ... 好
        ("zh", "机器翻译不好", "机器翻译很好", 5, 6, 6),
    ],
)
def test_rouge_l_matches_a_hand_computed_lcs(language, hypothesis, reference, lcs, hypothesis_tokens, reference_tokens):
    scores = score_texts([hypothesis], [reference], [language]).metrics
    assert scores["rougeL"] == pytest.approx(f_measure(lcs, hypothesis_tokens, reference_tokens))
    assert scores["rougeL"] > 0


def test_chinese_rouge_1_and_2_count_characters_and_character_bigrams():
    scores = score_texts(["机器翻译不好"], ["机器翻译很好"], ["zh"]).metrics
    assert scores["rouge1"] == pytest.approx(f_measure(5, 6, 6))  # 机 器 翻 译 好
    assert scores["rouge2"] == pytest.approx(f_measure(3, 5, 5))  # 机器 器翻 翻译


def test_tokenizer_keeps_accents_marks_and_splits_cjk_from_latin():
    tokenize = UnicodeWordTokenizer().tokenize
    assert tokenize("Die U\u0308bersetzung!") == ["die", "übersetzung"]  # decomposed Ü is normalised
    assert tokenize("GPT模型") == ["gpt", "模", "型"]
    assert tokenize("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # vowel signs are marks, not separators


def test_english_rouge_stems_and_other_languages_do_not():
    english = score_texts(["the cats running"], ["the cat runs"], ["en"]).metrics
    other = score_texts(["the cats running"], ["the cat runs"], ["ve"]).metrics
    assert english["rougeL"] == pytest.approx(100.0)
    assert other["rougeL"] == pytest.approx(f_measure(1, 3, 3))


@pytest.mark.parametrize(("language", "tokenize"), [("de", "13a"), ("zh", "zh"), ("zh-Hans", "zh")])
def test_bleu_and_chrf_are_sacrebleus_corpus_scores(language, tokenize):
    hypotheses = ["Das Haus ist klein.", "机器翻译很好", "Er geht nach Hause"]
    references = ["Das Haus ist sehr klein.", "机器翻译不好", "Er ging nach Hause"]
    scores = score_texts(hypotheses, references, [language] * 3)
    expected_bleu = sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize)
    assert scores.metrics["bleu"] == pytest.approx(expected_bleu.score)
    assert scores.metrics["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score)
    assert f"tok:{tokenize}" in scores.signatures["bleu"]
    assert "nc:6" in scores.signatures["chrf"]


def test_several_languages_are_scored_overall_and_per_language():
    hypotheses = ["die Übersetzung ist gut", "das ist alles", "机器翻译不好"]
    references = ["die Übersetzung war gut", "das war alles", "机器翻译很好"]
    languages = ["de", "de", "zh"]
    scores = score_texts(hypotheses, references, languages).metrics
    german = sacrebleu.corpus_bleu(hypotheses[:2], [references[:2]], tokenize="13a").score
    assert scores["de/bleu"] == pytest.approx(german)
    assert scores["zh/bleu"] == pytest.approx(
        sacrebleu.corpus_bleu(hypotheses[2:], [references[2:]], tokenize="zh").score
    )
    # A corpus with Chinese is tokenized as sacreBLEU's zh (13a outside Han characters).
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references], tokenize="zh").score)
    # ROUGE is a mean over examples, so the overall value weights languages by their examples.
    per_example = [f_measure(3, 4, 4), f_measure(2, 3, 3), f_measure(5, 6, 6)]
    assert scores["de/rougeL"] == pytest.approx(sum(per_example[:2]) / 2)
    assert scores["rougeL"] == pytest.approx(sum(per_example) / 3)


def test_one_language_has_no_per_language_keys():
    assert set(score_texts(["a b"], ["a b"], ["ka"]).metrics) == {"bleu", "chrf", "rouge1", "rouge2", "rougeL"}


def test_bleu_tokenizer_is_13a_without_chinese():
    assert bleu_tokenizer(["de", "ka"]) == "13a"
    assert bleu_tokenizer(["de", "zh_CN"]) == "zh"


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="one entry per example"):
        score_texts(["a"], ["a", "b"], ["de"])
