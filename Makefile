# Two entry points for a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/kintwin: pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/kintwin

.PHONY: install demo test
install: $(BIN)/kintwin

demo: install
	$(BIN)/kintwin demo

test: install
	$(BIN)/python -m pytest -q
