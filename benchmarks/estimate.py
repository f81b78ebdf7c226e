"""CBPE check: Flywheel's estimate of a window's ROC AUC before labels (``flywheel.monitoring.estimate``) against
NannyML's CBPE and against the realised ROC AUC, on the same synthetic windows.

NannyML is not a dependency of Flywheel (docs/monitoring.md says why), so it runs in its own environment, given by
``--nannyml-python`` (its usage telemetry is switched off for the run; its release imports statsmodels without
declaring it):

    python3 -m venv /tmp/nannyml && /tmp/nannyml/bin/pip install nannyml==0.13.1 statsmodels
    .venv/bin/python benchmarks/estimate.py --nannyml-python /tmp/nannyml/bin/python

Windows: a reference (the champion's holdout, labelled) and windows of 5,000 rows whose input shifts by 0 to 1 sd
(covariate shift, which CBPE is built for) or whose outcome depends less on the input (concept drift, which it
cannot see). Prints one row per window and, with ``--json PATH``, writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from flywheel.monitoring.estimate import calibrate, estimate

WINDOWS = [("no shift", 0.0, 2.0), ("+0.5 sd", 0.5, 2.0), ("-0.5 sd", -0.5, 2.0), ("+1 sd", 1.0, 2.0)]
WINDOWS += [("concept drift: slope 2 -> 1", 0.0, 1.0)]

NANNYML = """
import sys, json
import pandas as pd
import nannyml as nml
reference = pd.read_parquet(sys.argv[1])
out = {}
for name, frame in pd.read_parquet(sys.argv[2]).groupby("window", sort=False):
    cbpe = nml.CBPE(y_pred_proba="score", y_pred="decision", y_true="label", problem_type="classification_binary",
                    metrics=["roc_auc"], chunk_size=len(frame))
    cbpe.fit(reference)
    result = cbpe.estimate(frame.drop(columns=["label", "window"])).filter(period="analysis").to_df()
    out[name] = float(result[("roc_auc", "value")].iloc[0])
print(json.dumps(out))
"""


def _window(n: int, seed: int, shift: float, slope: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    label = (rng.random(n) < 1 / (1 + np.exp(-slope * x))).astype(int)
    score = 1 / (1 + np.exp(-(1.2 * x - 0.3)))  # the model: monotone in x, not calibrated
    return pd.DataFrame({"score": score, "decision": (score >= 0.5).astype(int), "label": label})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nannyml-python", help="a Python with nannyml installed (see the module's docstring)")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    reference = _window(10_000, 0, 0.0, 2.0)
    calibration = calibrate(reference["score"].to_numpy(), reference["label"].to_numpy())
    windows = pd.concat([_window(args.rows, i + 1, s, k).assign(window=name) for i, (name, s, k) in enumerate(WINDOWS)])
    nannyml: dict[str, float] = {}
    if args.nannyml_python:
        with tempfile.TemporaryDirectory() as tmp:
            reference.to_parquet(f"{tmp}/reference.parquet")
            windows.to_parquet(f"{tmp}/windows.parquet")
            env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
            done = subprocess.run(
                [args.nannyml_python, "-c", NANNYML, f"{tmp}/reference.parquet", f"{tmp}/windows.parquet"],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            nannyml = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for name, frame in windows.groupby("window", sort=False):
        realised = float(roc_auc_score(frame["label"], frame["score"]))
        ours = estimate("roc_auc", frame["score"].to_numpy(), calibration)
        rows.append({"window": name, "realised": realised, "flywheel": ours, "nannyml": nannyml.get(name)})
    print(f"{'window':32} {'realised':>9} {'flywheel':>9} {'nannyml':>9} {'|fw-nml|':>9} {'|fw-real|':>9}")
    for r in rows:
        nml = r["nannyml"]
        gap = "-" if nml is None else f"{abs(r['flywheel'] - nml):.4f}"
        print(
            f"{r['window']:32} {r['realised']:9.4f} {r['flywheel']:9.4f} {'-' if nml is None else f'{nml:9.4f}':>9} "
            f"{gap:>9} {abs(r['flywheel'] - r['realised']):9.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
