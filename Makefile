# The two commands of the README: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bootstrap lint fmt bench clean

$(VENV)/.installed: pyproject.toml
	scripts/bootstrap.sh python
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/distserver demo

bootstrap:
	scripts/bootstrap.sh all

test: bootstrap
	scripts/run-tests.sh $(ARGS)

# ruff, mypy, import-linter and `distserver db check` (scripts/lint.sh); the test command runs it first.
lint: bootstrap
	scripts/lint.sh

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: bootstrap
	$(PY) -m bench $(ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache tests/oidc/node_modules
