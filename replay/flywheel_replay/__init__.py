"""The demo's simulator: the bundled datasets replayed as if they arrived over time, and the loop driven by them.

* ``landing``: a dataset cut into monthly batch files in the landing store;
* ``traffic``: a month of mart rows posted to the prediction service as live requests;
* ``loop``: the demo's plan per model and the month-by-month loop through the product's DAGs;
* ``summary``: the month tables, the live metric against a never-retrained first model, the chart;
* ``cli``: ``flywheel-replay demo`` and ``flywheel-replay land``.

It uses the product (``flywheel``) and is never used by it; it blesses nothing itself: every model it shows went
through the gate.
"""
