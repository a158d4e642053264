# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast bootstrap lint fmt bench screenshots clean

$(VENV)/.installed: pyproject.toml
	scripts/bootstrap.sh python
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/distserver demo

bootstrap:
	scripts/bootstrap.sh all

test: bootstrap
	scripts/run-tests.sh $(ARGS)

# The quick loop: unit and SQLite integration tests, no real part (no PostgreSQL, S3 peer,
# browser, OIDC provider, Hugging Face client or multi-process server), on every core.
FAST := not postgres and not s3 and not browser and not oidc and not hf and not slow
test-fast: bootstrap
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -m "$(FAST)" -n $$(scripts/test-workers.sh) \
		--dist loadgroup -q $(ARGS)

# ruff, mypy, import-linter and `distserver db check` (scripts/lint.sh); the test command runs it first.
lint: bootstrap
	scripts/lint.sh

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
