# The two commands (see README): `make run` and `make test`. Both install
# what they need into a project venv (.venv): Debian packages via apt-get,
# Python packages via pip. Nothing goes into the user's global Python.
# PORT: the Swift proxy's port; LAB_PORT: JupyterLab's (both for `make run`).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null && echo sudo)
PORT ?= 8080
LAB_PORT ?= 8888
# S2AIO_DIR: s2aio's data dir (default /var/lib/s2aio as root, else ~/.local/share/s2aio).

# The pip extras each command needs (a plain install is the client parts only).
RUN_EXTRAS := dev,s2aio
TEST_EXTRAS := dev,s2aio,bench,podman,hub,browser
comma := ,
# JupyterHub's proxy (tests/hub), from npm into the venv's own prefix.
CHP := $(VENV)/bin/configurable-http-proxy

.PHONY: run test test-keystone keystone-venv install system-deps test-system-deps podman-deps test-podman labextension unit bench stop clean

# An empty PORT= or LAB_PORT= means the default. A second `make run` prints the
# URL of the JupyterLab that still runs for this data dir instead of a new one.
run: system-deps $(VENV)/.installed-$(RUN_EXTRAS) labextension
	$(VENV)/bin/swift-notebooks $(if $(PORT),--port $(PORT)) $(if $(LAB_PORT),--lab-port $(LAB_PORT))

# podman-deps: tests/s2aio/test_podman_integration.py smoke-tests the podman
# gateway too (its cold cost: apt ~15 s, image build 45-80 s, once per machine).
test: install podman-deps keystone-venv
	$(PY) -m pytest -q -p no:cacheprovider tests

# The integration tests against an s2aio in keystone v3 mode (s2aio start --auth keystone).
test-keystone: install keystone-venv
	S2AIO_TEST_AUTH=keystone $(PY) -m pytest -q -p no:cacheprovider -m integration tests

# keystone's own virtualenv (~/.cache/s2aio/keystone-*, or $$S2AIO_KEYSTONE_VENV): s2aio
# makes it on first use anyway; made here so its pip install (~25 s) is no test's time.
keystone-venv: install
	$(PY) -c "from s2aio.keystone import ensure_venv; print('keystone venv:', ensure_venv())"

unit: install
	$(PY) -m pytest -q -m "not integration" tests

install: system-deps test-system-deps $(VENV)/.installed-$(TEST_EXTRAS) $(CHP) labextension

# memcached (tempauth's cache), bubblewrap (the storlets sandbox), python3 +
# python3-seccomp (Debian's interpreter runs storlets inside the sandbox and
# compiles its seccomp filter with libseccomp's own bindings), rsync (s2aio
# --replicas N: Swift's account/container replicators push databases with it).
system-deps:
	@missing=""; \
	command -v memcached >/dev/null 2>&1 || missing="$$missing memcached"; \
	command -v rsync >/dev/null 2>&1 || missing="$$missing rsync"; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	[ -x /usr/bin/python3 ] || missing="$$missing python3"; \
	/usr/bin/python3 -c 'import seccomp' >/dev/null 2>&1 || missing="$$missing python3-seccomp"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# Test-only: Debian's chromium, which the browser tests (tests/browser/) drive
# through Playwright (`make run` does not need it; Playwright's own browser
# download is not used).
CHROMIUM ?= /usr/lib/chromium/chromium
test-system-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Debian packages: chromium (for the browser tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi

# One stamp per extras set (.installed-dev,s2aio ...), re-made only when the
# project's metadata changed; a fresh stamp of a larger set (make test's) also
# serves a smaller one (make run's), so neither repeats pip for nothing.
# An editable install does not place data files: enable the swiftcontents
# server extension the way a wheel install does (jupyter_server_config.d).
$(VENV)/.installed-%: pyproject.toml setup.py
	@for s in $(VENV)/.installed-*; do \
	  [ -e "$$s" ] && [ "$$s" -nt pyproject.toml ] && [ "$$s" -nt setup.py ] || continue; \
	  have=",$${s##*/.installed-},"; ok=1; \
	  for e in $(subst $(comma), ,$*); do case "$$have" in *",$$e,"*) ;; *) ok=;; esac; done; \
	  [ -z "$$ok" ] || { touch $@; echo "python packages up to date ($$s)"; exit 0; }; \
	done; \
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv && \
	  rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } && \
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip && \
	$(PY) -m pip install -q --disable-pip-version-check -e '.[$*]' && \
	$(PY) -c "import os, shutil, sys; d = os.path.join(sys.prefix, 'etc', 'jupyter', 'jupyter_server_config.d'); os.makedirs(d, exist_ok=True); shutil.copy('swiftcontents/etc/swiftcontents.json', d)" && \
	touch $@

# s2aio start --gateway podman: rootful podman with runc (crun fails on this
# machine's cgroup setup), debootstrap for the storlets image. `make run` does
# not need them.
podman-deps:
	@missing=""; \
	for tool in podman runc debootstrap conmon; do \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The notebook storlets' integration tests, unchanged, with every storlet run by
# storlets' own podman gateway (S2AIO_GATEWAY=podman: the session's s2aio), and
# the podman mode's own tests (confinement from inside a storlet, stop).
PODMAN_TESTS := tests/storlets_apps tests/s2aio/test_podman_integration.py
test-podman: install podman-deps
	S2AIO_GATEWAY=podman $(PY) -m pytest -q -p no:cacheprovider $(PODMAN_TESTS)

# configurable-http-proxy 5.2 needs node >= 20 (5.3: >= 22.12); Debian 12's nodejs is 18, which 4.6 serves.
$(CHP): | $(VENV)/.installed-$(TEST_EXTRAS)
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian packages: nodejs npm"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	@version=4.6.3; node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' && version=5.2.0; \
	echo "installing configurable-http-proxy@$$version into $(VENV)"; \
	npm install -g -q --prefix $(VENV) --no-audit --no-fund configurable-http-proxy@$$version

# The JupyterLab extension (swiftcontents/lab, TypeScript), prebuilt the way
# JupyterLab's extension guide does (@jupyterlab/builder, a federated
# extension) into swiftcontents/labextension, then placed in the venv where
# `jupyter labextension list` finds it (as a wheel install would). Rebuilt only
# when its sources changed; `npm ci` only when its lock file changed. Needs
# node >= 18 (Debian 12's nodejs, installed with npm when missing). The
# builder's own script is called with this venv's JupyterLab as the core: the
# `jupyter labextension build` wrapper insists on node >= 20.19 and downloads
# the core metadata from the network.
LAB_DIR := swiftcontents/lab
LAB_OUT := swiftcontents/labextension
LAB_NAME := swift-notebooks-jupyterlab
LAB_INSTALLED := $(VENV)/share/jupyter/labextensions/$(LAB_NAME)
LAB_SOURCES := $(addprefix $(LAB_DIR)/,package.json package-lock.json tsconfig.json install.json) \
	$(wildcard $(LAB_DIR)/src/*.ts $(LAB_DIR)/style/*.css $(LAB_DIR)/style/*.js)

labextension: $(VENV)/.labextension

$(LAB_DIR)/node_modules/.ci-done: $(LAB_DIR)/package-lock.json
	@missing=""; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing (the JupyterLab extension's build)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	node -e 'process.exit(parseInt(process.versions.node, 10) < 18 ? 1 : 0)' || { \
	  echo "node $$(node --version) is too old for the JupyterLab extension's build: 18 or newer needed"; exit 1; }; \
	echo "labextension: npm ci (node $$(node --version))"; \
	cd $(LAB_DIR) && npm ci --no-audit --no-fund --loglevel=error --no-progress >/dev/null && touch node_modules/.ci-done

$(VENV)/.labextension: $(LAB_SOURCES) $(LAB_DIR)/node_modules/.ci-done
	@start=$$(date +%s); log=$(VENV)/labextension-build.log; \
	core=$$($(PY) -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))') && \
	rm -rf $(LAB_OUT) && \
	( cd $(LAB_DIR) && node_modules/.bin/tsc && \
	  node node_modules/@jupyterlab/builder/lib/build-labextension.js --core-path "$$core" . ) >$$log 2>&1 || { \
	  tail -n 40 $$log; echo "labextension: build failed (whole log: $$log)"; exit 1; }; \
	rm -rf $(LAB_INSTALLED) && mkdir -p $(dir $(LAB_INSTALLED)) && \
	cp -R $(LAB_OUT) $(LAB_INSTALLED) && cp $(LAB_DIR)/install.json $(LAB_INSTALLED)/ && \
	touch $@ && echo "labextension: built and installed in $(LAB_INSTALLED) ($$(( $$(date +%s) - start )) s)"

bench: install podman-deps
	$(PY) bench/s2aio_start.py
	$(PY) bench/engine_overhead.py
	$(PY) bench/engine_fastpath.py
	$(PY) bench/nbdiff_scale.py
	$(PY) bench/storlets_vs_client.py
	$(PY) bench/contents_vs_peers.py
	$(PY) bench/sandbox_cost.py
	$(PY) bench/podman_gateway.py
	$(PY) bench/reliability.py

stop:
	$(PY) -m s2aio stop

clean:
	rm -rf build *.egg-info .pytest_cache $(LAB_OUT) $(LAB_DIR)/lib $(LAB_DIR)/lib-test $(LAB_DIR)/tsconfig.tsbuildinfo
