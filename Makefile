# geogrid — the two set-up commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-qgis install install-dev system-deps lint bench-deps bench-stats bench-county schemathesis examples-full

demo: install  ## the main job on the sample data, embedded store (no database server)
	$(BIN)/geogrid demo

test: system-deps install-dev lint  ## everything installed (PostGIS included), whole test suite
	$(BIN)/pytest

test-qgis: install-dev  ## `geogrid qgis` projects opened by the real QGIS (installs QGIS, ~4.5 min)
	bash scripts/system-deps.sh python3-qgis fonts-noto-cjk  # QGIS for /usr/bin/python3 only
	GEOGRID_TEST_QGIS=1 $(BIN)/pytest tests/test_qgis.py

lint:
	$(BIN)/ruff check .
	$(BIN)/mypy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/pip install -q -e ".[dev,examples,cluster]"

system-deps:
	bash scripts/system-deps.sh

bench-deps: install-dev  ## wrk and py-spy for bench/bench_api.py
	bash scripts/bench-deps.sh

bench-stats: install-dev  ## /stats over 1M incidents and /ogc paging, city and province stores (PostGIS)
	$(BIN)/python bench/bench_stats.py

bench-county: install-dev  ## county and province: index build, memory, locate, re-index under load, PostGIS alone (add ARGS=--small for a quick run)
	$(BIN)/python bench/bench_county.py $(ARGS)

schemathesis: install-dev  ## every Schemathesis check, both stores, admin key and none, 500 examples/op
	$(BIN)/python -m tests.contract --examples 500 --out bench/results/schemathesis.json

EXAMPLES := ruyang qinghu zhihe jinyuan zhuzhou wangcheng

examples-full: install-dev  ## the six real systems rebuilt at their published scale (docs/CASES.md)
	for name in $(EXAMPLES); do \
		$(BIN)/geogrid example $$name --scale full -o out/examples/$$name-full || exit 1; \
	done
