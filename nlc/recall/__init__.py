"""`nlc bench recall`: the evidence that a memory pays. Each spec is trained on MQAR at CPU
size and scored by sequence length, by number of pairs and by distance beyond the attention
window; the results are a table, JSON and a PNG.

    settings.py  what is trained and scored: the spec sets, the task grid, the training flags
    data.py      the MQAR training and test files (seeded, `nlc.tasks.mqar.generate`)
    train.py     one spec trained by `nlc train` in a subprocess, stopped at the time cap
    score.py     a trained run scored on the test cells (`nlc.tasks.score`)
    report.py    the table, the JSON and the PNG
    cli.py       the `nlc bench recall` command line
"""
