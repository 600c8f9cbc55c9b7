"""The study: rows over seeds, sweeps, the markdown section, and the command end to end on real data."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from sideman.models.quality.grid import Key, Meter, Parts, Tune, held_line
from sideman.models.quality.study import Entry, format_table, main, run, sweep, write_section
from sideman.models.quality.tunes import NOTTINGHAM
from tests.paths import REPO


def tune_of(beats: list[int]) -> Tune:
    pitch, onset = held_line(beats, 4)
    return Tune("t", pitch, onset, Meter(4, 4), Key(0, False))


def drone(offset: int):
    """A one-part accompanist `offset` semitones under the tune."""
    def play(tune: Tune, seed: int) -> Parts:
        p = np.where(tune.pitch >= 0, tune.pitch - offset, -1)[:, None]
        return Parts(p, tune.onset[:, None].copy())
    return play


def test_a_row_is_the_mean_over_its_seeds():
    tunes = [tune_of([72, 74, 76, 77])]

    def by_seed(tune: Tune, seed: int) -> Parts:  # seed 0 clashes everywhere (a second), seed 1 nowhere (a sixth)
        return drone(2 if seed == 0 else 9)(tune, seed)

    row = run(tunes, Entry("x", by_seed, (0, 1)))
    assert row.rates["clash"] == 0.5 and row.seeds == (0, 1)


def test_sweep_gives_one_row_per_setting():
    tunes = [tune_of([72, 74, 76, 77]), tune_of([60, 62])]
    rows = sweep(tunes, drone, [1, 3, 6, 12], seeds=(0,), name="offset")
    assert [r.name for r in rows] == ["offset=1", "offset=3", "offset=6", "offset=12"]
    assert [r.rates["clash"] for r in rows] == [1.0, 0.0, 1.0, 0.0]
    assert [r.rates["in_chord"] for r in rows] == [0.0, 0.0, 0.0, 1.0]


def test_table_shows_missing_figures_as_a_dash():
    row = run([tune_of([72, -1])], Entry("silent", lambda t, s: Parts(np.full((8, 1), -1), np.zeros((8, 1), bool))))
    text = format_table([row])
    assert text.splitlines()[2].startswith("| silent | – |")


def test_a_section_replaces_its_previous_version(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("# Title\n\nhand-written notes\n")
    write_section("<!-- quality:folk-test -->\nold\n<!-- /quality:folk-test -->", "folk-test", doc)
    write_section("<!-- quality:chorale-test -->\nbach\n<!-- /quality:chorale-test -->", "chorale-test", doc)
    write_section("<!-- quality:folk-test -->\nnew\n<!-- /quality:folk-test -->", "folk-test", doc)
    text = doc.read_text()
    assert "hand-written notes" in text and "new" in text and "old" not in text and "bach" in text
    assert text.count("<!-- quality:folk-test -->") == 1
    assert text.index("new") < text.index("bach")  # it stays where it was


@pytest.mark.skipif(not NOTTINGHAM.is_file(), reason="needs ../shared/data/polyphonic")
def test_the_command_runs_end_to_end_on_real_tunes(tmp_path, capsys):
    doc = tmp_path / "accompaniment.md"
    for name in ("folk-test", "chorale-test"):
        assert main(["--set", name, "--limit", "2", "--seeds", "0", "--doc", str(doc)]) == 0
    out = capsys.readouterr().out
    text = doc.read_text()
    for name in ("folk-test", "chorale-test"):
        assert f"### {name}" in text and f"--set {name} --limit 2" in text
    assert "| the model alone (shipped chorale-gru.onnx, hearing nothing) |" in out
    assert "| the model hearing key, chord and tune (shipped chorale-gru.onnx, the config's defaults) |" in out
    assert "| human (Nottingham's chords) |" in text and "| Bach (alto, tenor, bass) |" in text
    assert "2 tunes" in text


def test_missing_data_is_one_line_and_exit_code_2(tmp_path):
    env = {**os.environ, "SIDEMAN_SHARED": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "sideman.models.quality", "--set", "folk-valid", "--no-doc"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"sideman: error: {tmp_path}/data/polyphonic/nottingham.json.gz: "
                                                "Nottingham data not found (looked in ../shared beside the "
                                                "project, or SIDEMAN_SHARED)"]


@pytest.mark.skipif(not NOTTINGHAM.is_file(), reason="needs ../shared/data/polyphonic")
def test_variants_get_their_own_section(tmp_path, capsys):
    doc = tmp_path / "accompaniment.md"
    assert main(["--set", "folk-test", "--limit", "1", "--seeds", "0", "--doc", str(doc)]) == 0
    assert main(["--set", "folk-test", "--limit", "1", "--seeds", "0", "--doc", str(doc),
                 "--pickup-as-downbeat", "--temperature", "1"]) == 0
    assert main(["--set", "folk-test", "--limit", "1", "--seeds", "0", "--doc", str(doc), "--listener", "cnn"]) == 0
    text = doc.read_text()
    assert "### folk-test\n" in text and "### folk-test, pickup as downbeat, T=1\n" in text
    assert "### folk-test, listener=cnn\n" in text
    assert "| the model hearing key, chord and tune (shipped chorale-gru.onnx, listener=cnn, the config's defaults) |" in text
    assert "| the model alone (shipped chorale-gru.onnx, temperature=1.0, hearing nothing) |" in text


def test_a_bad_temperature_is_one_line(capsys):
    assert main(["--set", "folk-test", "--temperature", "0", "--no-doc"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["sideman: error: --temperature 0: give a temperature above 0"]


def graph_with_inputs(path, names: list[str]) -> None:
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in names]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", [names[0]], ["y"])], "g", inputs, [out])
    onnx.save(helper.make_model(graph), str(path))


def test_the_model_alone_row_says_a_network_with_a_key_input_still_hears_the_key(tmp_path):
    from sideman.models.quality.study import default_entries

    graph_with_inputs(tmp_path / "plain.onnx", ["lead"])
    graph_with_inputs(tmp_path / "keyed.onnx", ["lead", "key_probs"])
    alone = [[e.name for e in default_entries("folk-valid", tmp_path / f"{m}.onnx") if "alone" in e.name][0]
             for m in ("plain", "keyed")]
    assert alone == ["the model alone (plain.onnx, hearing nothing)", "the model alone (keyed.onnx, hearing the key, its input)"]
    assert "hearing nothing" in [e.name for e in default_entries("folk-valid") if "alone" in e.name][0]
