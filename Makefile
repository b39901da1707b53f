# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch/torchvision pinned to the releases this project is tested with (pip takes local files where present)
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install graphviz chromium demo test bench reports figures clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test,vision]'
	touch $@

install: $(VENV)/.installed graphviz chromium

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq graphviz >/dev/null; \
	  else echo "Graphviz 'dot' not found: install graphviz with your package manager" >&2; exit 1; fi; }

# headless Chromium for the browser tests of `archc serve` (Playwright drives the system browser; it never
# downloads one). Without it those tests fail: set ARCHC_SKIP_BROWSER_TESTS=1 to opt out explicitly.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium not found: install it with your package manager (needed by the browser tests)" >&2; exit 1; fi; }

demo: install
	$(VENV)/bin/archc build specs/resnet50.yaml

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/run_all.py

reports: install
	$(VENV)/bin/archc analyze --full

figures: install
	$(VENV)/bin/archc figures

clean:
	rm -rf build .pytest_cache
