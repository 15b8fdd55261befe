# feedback-nlp: `make demo` trains on the bundled sample and writes the weekly report; `make test` runs the tests.
# Both create the virtualenv .venv and install everything on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODELS_DIR ?= models
REPORTS_DIR ?= reports
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

SAMPLE_FEEDBACK := examples/feedback/tickets.csv examples/feedback/call_notes.jsonl examples/feedback/legacy_export.csv
SAMPLE_ROADMAP := examples/roadmap.yaml

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}' \
		| sed -e 's|$$(SCALE_UNITS)|$(SCALE_UNITS)|g' -e 's|$$(EVAL_DATA)|$(EVAL_DATA)|g'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install the package with its test tools

.PHONY: train
train: $(STAMP) ## Train a model on the bundled sample into models/
	$(BIN)/feedback-nlp train $(addprefix --feedback ,$(SAMPLE_FEEDBACK)) --roadmap $(SAMPLE_ROADMAP) \
		--models-dir $(MODELS_DIR) --config training/config.yaml

SAMPLE_WEEK := 2026-W47

.PHONY: demo
demo: train ## Train on the sample, load its 12 weeks into the store, write the weekly report for its last week
	@echo "Model: $(MODELS_DIR)/$$(cat $(MODELS_DIR)/LATEST)"
	$(BIN)/feedback-nlp themes --models-dir $(MODELS_DIR)
	$(BIN)/feedback-nlp score --models-dir $(MODELS_DIR) "the CSV export times out"
	$(BIN)/feedback-nlp ingest --models-dir $(MODELS_DIR) $(SAMPLE_FEEDBACK)
	$(BIN)/feedback-nlp report --models-dir $(MODELS_DIR) --week $(SAMPLE_WEEK) --out $(REPORTS_DIR)
	@echo "Weekly report: $(REPORTS_DIR)/report-$(SAMPLE_WEEK).html (.md, .json beside it)"
	$(BIN)/feedback-nlp report --models-dir $(MODELS_DIR) --week $(SAMPLE_WEEK) --out $(REPORTS_DIR) \
		--send --dry-run --notifications examples/notifications.yaml
	@echo "Owners' digests (not sent): $(REPORTS_DIR)/digest-$(SAMPLE_WEEK)-*.json (Slack) and *.eml (e-mail)"

.PHONY: lint
lint: $(STAMP) ## ruff (lint and format), mypy on the library and service, and no library function above complexity 20
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@too_complex="$$($(BIN)/radon cc -n D -s feedback_nlp)"; \
		if [ -n "$$too_complex" ]; then echo "cyclomatic complexity above 20 (radon cc -n D):"; echo "$$too_complex"; exit 1; fi

.PHONY: test
test: $(STAMP) ## Run the test suite
	$(BIN)/python -m pytest -q

# The labelled evaluation data sets live beside the repository (not in it): ../shared/data by default.
EVAL_DATA ?= $(or $(FEEDBACK_NLP_SHARED_DATA),../shared/data)

.PHONY: eval-data
eval-data:
	@if [ ! -d "$(EVAL_DATA)/banking77" ]; then \
		echo "The evaluation data is not here: $(EVAL_DATA)/banking77 does not exist."; \
		echo "make evaluate and make bench-quality read labelled data sets (banking77, urr-app-reviews,"; \
		echo "is22-app-review-features) from a folder beside the repository; put them in ../shared/data"; \
		echo "or point EVAL_DATA (or FEEDBACK_NLP_SHARED_DATA) at the folder that holds them."; \
		exit 2; \
	fi

.PHONY: evaluate
evaluate: eval-data $(STAMP) ## Evaluate discovery and routing on Banking77 from $(EVAL_DATA)
	$(BIN)/feedback-nlp evaluate --train $(EVAL_DATA)/banking77/train.csv --test $(EVAL_DATA)/banking77/test.csv \
		--text-col text --label-col category

.PHONY: serve
serve: $(STAMP) ## Serve the latest model in models/ on http://127.0.0.1:8000 (prints a dev key if none is set)
	@if [ -z "$${FEEDBACK_NLP_API_KEYS:-}" ] && ! grep -qs '^FEEDBACK_NLP_API_KEYS=.' .env; then \
		FEEDBACK_NLP_API_KEYS="dev-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))')"; \
		FEEDBACK_NLP_ADMIN_KEYS="$${FEEDBACK_NLP_ADMIN_KEYS:-admin-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))')}"; \
		export FEEDBACK_NLP_API_KEYS FEEDBACK_NLP_ADMIN_KEYS; \
		echo "FEEDBACK_NLP_API_KEYS is not set; development keys for this run only:"; \
		echo "  X-API-Key (score, read): $$FEEDBACK_NLP_API_KEYS"; \
		echo "  X-API-Key (admin):       $$FEEDBACK_NLP_ADMIN_KEYS"; \
	fi; \
	exec $(BIN)/feedback-nlp serve --models-dir $(MODELS_DIR)

.PHONY: bench-service
bench-service: $(STAMP) ## Benchmark the service (uvicorn, loopback) against the raw encoder on models/
	$(BIN)/python benchmarks/bench_service.py --models-dir $(MODELS_DIR)

.PHONY: bench-integrations
bench-integrations: $(STAMP) ## Benchmark desk webhooks on the real server and the outbox sender (after make train)
	$(BIN)/python benchmarks/bench_integrations.py --models-dir $(MODELS_DIR)
.PHONY: bench-prepare
bench-prepare: $(STAMP) ## Preparation's fast path (NER only where a name can be) against the whole spaCy pipeline: CPU s, differing texts
	$(BIN)/python benchmarks/bench_prepare.py

.PHONY: bench-pipeline
bench-pipeline: $(STAMP) ## Encoder, preparation, ingest, train pass, service: ratios to the raw encoder, idle and with a CPU-bound neighbour
	$(BIN)/python benchmarks/bench_pipeline.py --models-dir $(MODELS_DIR)

.PHONY: bench-encoder
bench-encoder: eval-data $(STAMP) ## Encoder backends (torch, ONNX fp32, ONNX int8): export, cold start, throughput, latency, cosine to torch on 2,000 real texts
	FEEDBACK_NLP_SHARED_DATA=$(EVAL_DATA) $(BIN)/python benchmarks/bench_encoder_backends.py

.PHONY: bench-search
bench-search: $(STAMP) ## Search by meaning: p50/p95 at 100k and 1M stored units, in memory and (FEEDBACK_NLP_BENCH_POSTGRES_URL set) pgvector with recall@10
	$(BIN)/python benchmarks/bench_search.py

.PHONY: bench-roadmap
bench-roadmap: $(STAMP) ## Which roadmap item the sample's tickets reach, against their intents' items (after make train)
	$(BIN)/python benchmarks/bench_roadmap_routing.py --models-dir $(MODELS_DIR)

.PHONY: bench-grain
bench-grain: $(STAMP) ## Where the sample's fee, exchange-rate and top-up tickets land, by intent (after make train)
	$(BIN)/python benchmarks/bench_sample_grain.py --models-dir $(MODELS_DIR)

.PHONY: bench-refine
bench-refine: eval-data $(STAMP) ## Discovery refined by spherical k-means steps against the tree alone, and the gold-centroid ceilings, on $(EVAL_DATA)
	FEEDBACK_NLP_SHARED_DATA=$(EVAL_DATA) $(BIN)/python benchmarks/bench_refine.py

.PHONY: bench-representation
bench-representation: eval-data $(STAMP) ## Discovery's partition in other spaces (whitening, lexical LSA, kNN-graph Leiden) against the tree, on $(EVAL_DATA) (needs the bench extra)
	FEEDBACK_NLP_SHARED_DATA=$(EVAL_DATA) $(BIN)/python benchmarks/bench_representation.py

.PHONY: bench-incremental
bench-incremental: $(STAMP) ## Benchmark a retrain with 5% new feedback against a full one (sample scaled to 20,000 items)
	$(BIN)/python benchmarks/bench_incremental.py

SCALE_UNITS ?= 100000 1000000

.PHONY: bench-scale
bench-scale: $(STAMP) ## Train on $(SCALE_UNITS) generated units on a Dask LocalCluster with 1 and 2 workers (hours at 1,000,000 on 2 cores)
	$(BIN)/python benchmarks/bench_scale.py --units $(SCALE_UNITS) --workers 1 2

.PHONY: clean
clean: ## Remove what make demo and make test wrote: models, reports, the store, caches and the virtualenv
	find $(MODELS_DIR) -mindepth 1 -maxdepth 1 ! -name README.md ! -name .gitignore -exec rm -rf {} + 2>/dev/null || true
	rm -rf $(REPORTS_DIR) $(dir $(abspath $(MODELS_DIR)))feedback.sqlite $(dir $(abspath $(MODELS_DIR)))feedback.sqlite-wal \
		$(dir $(abspath $(MODELS_DIR)))feedback.sqlite-shm
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache benchmarks/.cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +

.PHONY: bench-quality
bench-quality: eval-data $(STAMP) ## Quality benchmark (discovery, areas, routing, abstention, roadmap mapping, theme names) on $(EVAL_DATA); writes benchmarks/results/quality.json and names.json
	FEEDBACK_NLP_SHARED_DATA=$(EVAL_DATA) $(BIN)/python benchmarks/bench_quality.py
	FEEDBACK_NLP_SHARED_DATA=$(EVAL_DATA) $(BIN)/python benchmarks/bench_names.py

.PHONY: bench-corrections
bench-corrections: $(STAMP) ## Correct 5, 10, 20 training texts of an intent the router confuses on Banking77; accuracy before/after
	$(BIN)/python benchmarks/bench_corrections.py

.PHONY: bench-privacy
bench-privacy: $(STAMP) ## Plant personal data in ~420 generated texts; scan every artifact, cache, store row, response and log
	$(BIN)/python benchmarks/bench_privacy.py

.PHONY: readme-examples
readme-examples: $(STAMP) ## Rewrite the README's sample answer and training/taxonomy.example.yaml from models/ (after make train)
	$(BIN)/python -m tests.readme_examples --models-dir $(MODELS_DIR)

.PHONY: screenshots
screenshots: $(STAMP) ## Retake the README's screenshots (report and workbench) from what make demo wrote
	$(BIN)/python docs/screenshots.py --models-dir $(MODELS_DIR) --report $(REPORTS_DIR)/report-$(SAMPLE_WEEK).html

.PHONY: configuration-doc
configuration-doc: $(STAMP) ## Rewrite docs/CONFIGURATION.md from the settings and the training config
	$(BIN)/python -m tests.configuration_doc
