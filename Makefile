# The two commands (see README): `make run` and `make test`. Both install
# what they need (Debian packages via apt-get, Python packages via pip).
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null && echo sudo)
S2AIO_DIR ?= $(HOME)/.local/share/s2aio
PORT ?= 8080
export S2AIO_DIR

.PHONY: run test install system-deps python-deps unit bench stop clean

run: install
	$(PYTHON) -m s2aio.main_job --port $(PORT)

test: install
	$(PYTHON) -m pytest -q -p no:cacheprovider tests

unit: install
	$(PYTHON) -m pytest -q -m "not integration" tests

install: system-deps python-deps

# memcached (tempauth's cache) and bubblewrap (the storlets sandbox); python3
# is Debian's interpreter that runs storlets inside the sandbox.
system-deps:
	@missing=""; \
	for pair in memcached:memcached bwrap:bubblewrap /usr/bin/python3:python3; do \
	  tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# An editable install does not place data files: enable the swiftcontents
# server extension the way a wheel install does (jupyter_server_config.d).
python-deps:
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[dev,bench]'
	$(PYTHON) -c "import os, shutil, sys; d = os.path.join(sys.prefix, 'etc', 'jupyter', 'jupyter_server_config.d'); os.makedirs(d, exist_ok=True); shutil.copy('swiftcontents/etc/swiftcontents.json', d)"

bench: install
	$(PYTHON) bench/s2aio_start.py
	$(PYTHON) bench/engine_overhead.py
	$(PYTHON) bench/nbdiff_scale.py
	$(PYTHON) bench/storlets_vs_client.py
	$(PYTHON) bench/contents_vs_peers.py

stop:
	$(PYTHON) -m s2aio stop

clean:
	rm -rf build *.egg-info .pytest_cache
