# Steward. `make run` for the demo, `make test` for the whole suite (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint security format check-deploy bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/run_demo.py

test: $(STAMP)
	$(PY) scripts/with_services.py --use-local $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

security: $(STAMP)
	$(VENV)/bin/bandit -c pyproject.toml -q -r .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-deploy: $(STAMP)
	DJANGO_SETTINGS_MODULE=steward.settings.production \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	ALLOWED_HOSTS=steward.example.com $(PY) manage.py check --deploy --fail-level WARNING

bench: $(STAMP)
	$(PY) scripts/with_services.py --use-local $(PY) -m bench.run_all

clean:
	rm -rf var/ .pytest_cache
