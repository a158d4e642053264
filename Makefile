# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bootstrap lint fmt bench screenshots clean

$(VENV)/.installed: pyproject.toml
	scripts/bootstrap.sh python
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/distserver demo

bootstrap:
	scripts/bootstrap.sh all

test: bootstrap
	scripts/run-tests.sh $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: bootstrap
	$(PY) -m bench $(ARGS)

# Retake the README's screenshots (the browser tour on a fresh demo, and the halted
# model) and copy them into docs/screenshots, where the README reads them.
screenshots: bootstrap
	rm -rf test-artifacts/readme-screenshots
	$(PY) -m pytest -q tests/browser/test_demo_tour.py \
		"tests/browser/test_journeys.py::test_admin_halt_turns_the_download_button_into_an_explanation"
	cp test-artifacts/readme-screenshots/*.png docs/screenshots/

clean:
	rm -rf $(VENV) instance .pytest_cache tests/oidc/node_modules
