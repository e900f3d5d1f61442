# One-command set-up on a fresh machine: a virtual environment with torch (CPU wheel pinned
# here; pyproject.toml keeps a range) and nlc installed editable with its dev extras.
VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast wheel-test lint format bench evidence recall fuzz gpu-wheels clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get update -q >/dev/null 2>&1; apt-get install -y -q graphviz >/dev/null 2>&1; } || true; }
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/nlc check specs/hope.yaml
	@echo
	$(VENV)/bin/nlc levels specs/hope.yaml
	@echo
	# train the small HOPE preset on the bundled Shakespeare corpus, on streams: each of the 8
	# rows reads consecutive 128-token windows of a 16K-token piece of the text, the memories
	# and CMS levels carried from window to window (the memories' chunk kernels compiled;
	# eagerly, and saying so, without a C++ compiler)
	rm -rf runs/demo
	$(VENV)/bin/nlc train specs/hope.yaml --out runs/demo --compile --stream \
	  --steps 300 --batch-size 8 --context 128 --lr 3.0e-3 --warmup 10 --eval-every 50 --eval-iters 2
	@echo
	# 400 new tokens: past the 256-token context, the memories carrying on
	$(VENV)/bin/nlc generate runs/demo --prompt "ROMEO:" --tokens 400
	@echo
	# 16K tokens of the held-out text as one stream: the loss by position (runs/demo/stream.png)
	$(VENV)/bin/nlc eval runs/demo --stream --max-tokens 16384

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# unit, property and golden tests (45 s on 2 cores): the tests marked slow (subprocess training,
# torchrun, torch.compile, browsers) run in `make test` only; two pytest-xdist workers of one
# torch thread each (serial: 75 s)
test-fast: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 -m "not slow"

# the wheel as a user gets it: built from the checkout, installed into a fresh venv (reusing
# this venv's torch, nothing downloaded) and run from a folder outside the checkout: nlc check
# hope, nlc train hope --steps 2, nlc verify --all (about a minute; part of make test too)
wheel-test: $(STAMP)
	$(PY) -m pytest -q tests/shipping/test_wheel.py

# structural mutants of the shipped specs through check and compile (tests/codegen/test_mutants.py),
# and hostile command lines and run folders through every command that reads them
# (tests/hostile/: --set, data make, export, eval, compare, generate); make test tries 500
# mutants and 12 command lines per command, this 10,000 and 120 (8 min on 2 cores) and
# prints per command how many were tried, accepted, refused and failed
FUZZ_MUTANTS ?= 10000
FUZZ_HOSTILE ?= 120
fuzz: $(STAMP)
	NLC_FUZZ_MUTANTS=$(FUZZ_MUTANTS) $(PY) -m pytest -q -s tests/codegen/test_mutants.py
	NLC_FUZZ_HOSTILE=$(FUZZ_HOSTILE) $(PY) -m pytest -q tests/hostile

# ruff, then the line budget (tools/line_budget.py: the README, every source file, and the files
# emitted for every shipped spec; it names each file over its budget)
lint: $(STAMP)
	$(PY) -m ruff check nlc runtime tests bench tools
	$(PY) -m ruff format --check nlc runtime tests bench tools
	$(PY) tools/line_budget.py

format: $(STAMP)
	$(PY) -m ruff format nlc runtime tests bench tools

bench: $(STAMP)
	$(PY) bench/bench_front.py

# the small-scale evidence: five presets of equal size at equal tokens on two corpora,
# full-split eval, passkey beyond the window, a persisted memory's long stream; report in
# runs/evidence/report.md. Budgeted for 30 min on 2 idle cores (`--quick`: a smoke test)
evidence: $(STAMP)
	$(PY) bench/evidence.py --out runs/evidence

# MQAR recall of the default bench set (full attention, window 32, window 32 + Titans memory,
# gated delta): table, runs/recall/recall.json and recall.png; one torch thread per run (two on
# a shared 2-core machine ran 8x slower)
recall: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/nlc bench recall --out runs/recall

# what bench/gpu_check.sh needs on the device machine beside its python3 (which has torch and
# every other dependency but pydantic): wheels for its Python 3.12, carried as .whl (typing-
# extensions too: pydantic-core needs a recent one)
GPU_WHEELS := pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
  typing-inspection==0.4.5 typing-extensions==4.16.0
gpu-wheels: $(STAMP)
	rm -rf .whl
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .whl $(GPU_WHEELS)
	ls .whl

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
