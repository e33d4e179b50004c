"""The evaluation report: metrics.json, figures and an HTML page that references them."""

from __future__ import annotations

import json

import numpy as np

from echo_ihg.eval.report import AttributeCurves, GateTrace, write_report


def test_report_files_and_content(tmp_path):
    t = 250
    rng = np.random.default_rng(0)
    a_vad = np.r_[np.ones(150), np.zeros(100)]
    u_vad = np.r_[np.zeros(100), np.ones(150)]
    smile = np.sin(np.arange(t) / 20)
    curves = AttributeCurves("session s1", {"smile": smile, "mouth_open": a_vad * 0.5},
                             {"smile": smile + 0.1 * rng.normal(size=t), "mouth_open": a_vad * 0.4},
                             {"smile": np.roll(smile, 10)}, a_vad, u_vad)
    gate = GateTrace("SDCM gate", np.clip(a_vad[:, None] * [0.9, 0.6], 0, 1), a_vad, u_vad, ("lips_jaw", "brows"))
    results = {"ECHO": {"all": {"frames": 250, "FD_expression": 1.5, "LSE-D": 0.7, "FRSyn": float("nan")},
                        "speaking": {"frames": 150, "FD_expression": 1.2}},
               "audio-only": {"all": {"frames": 250, "FD_expression": 2.5, "LSE-D": 0.8}}}
    page = write_report(tmp_path / "rep", results, ["FD_expression", "LSE-D", "FRSyn"], [curves], [gate],
                        config={"checkpoint": "x.safetensors"}, notes=["toy"])
    text = page.read_text()
    for name in ("bars_all.png", "bars_speaking.png", "curves_0.png", "gate_0.png"):
        assert (tmp_path / "rep" / "figures" / name).stat().st_size > 5000
        assert f"figures/{name}" in text
    assert "<td>–</td>" in text                                  # NaN FRSyn shown as a dash
    data = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert data["results"]["ECHO"]["all"]["FRSyn"] is None        # NaN -> null in JSON
    assert data["results"]["audio-only"]["all"]["FD_expression"] == 2.5
    assert data["config"]["checkpoint"] == "x.safetensors"
