# total-service: `python -m app` on 0.0.0.0:5000, as a non-root user.

# --- build: install the locked dependencies into /srv/.venv with pipenv ---
FROM python:3.13-slim AS build
# The index pip and pipenv use; pip's own default when the build does not pass one.
ARG PIP_INDEX_URL
# The Makefile installs the same version (tests/test_deploy_files.py checks).
ARG PIPENV_VERSION=2026.10.3
# The SBOM tool, at Pipfile.lock's version (tests/test_deploy_files.py checks); this stage only.
ARG CYCLONEDX_BOM_VERSION=7.5.0
ENV PIPENV_VENV_IN_PROJECT=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /srv
COPY Pipfile Pipfile.lock ./
# pipenv syncs the lock into .venv; then only what runs stays there: no installers (pip,
# setuptools), no test suites (numpy's; swagger-ui-py's, installed as a top-level `test`), no
# C, C++, Cython or Fortran sources, headers, static libraries or type stubs, which only a
# compiler or a type checker reads; of swagger-ui-py's 25 MB, only Swagger UI (the editor's
# bundles and every source map, 21 MB, are never served by /docs).
# Bytecode is compiled here, once, and kept: the image is read-only at run time, and
# without it every start and every HEALTHCHECK run would compile the imports again.
# unchecked-hash: the .pyc files stay valid whatever the sources' timestamps after COPY.
# Last, cyclonedx-py, from a virtualenv of its own, writes the SBOM of .venv as it ships.
RUN PIP_INDEX_URL="${PIP_INDEX_URL:-$(python -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')}" \
    && export PIP_INDEX_URL \
    && pip install --quiet "pipenv==${PIPENV_VERSION}" \
    && pipenv sync \
    && .venv/bin/python -m pip uninstall --quiet --yes pip setuptools \
    && site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
    && rm -rf "$site/test" "$site"/swagger_ui/static/swagger-editor* "$site"/swagger_ui/static/*.map \
    && find "$site" -depth -type d -name tests -exec rm -rf {} + \
    && find "$site" -type f \( -name '*.[ch]' -o -name '*.cpp' -o -name '*.pyx' -o -name '*.pxd' \
        -o -name '*.a' -o -name '*.f' -o -name '*.f90' -o -name '*.pyf' -o -name '*.pyi' \) -delete \
    && python -m compileall -q -f --invalidation-mode unchecked-hash .venv \
    && python -m venv /opt/sbom \
    && /opt/sbom/bin/pip install --quiet "cyclonedx-bom==${CYCLONEDX_BOM_VERSION}" \
    && /opt/sbom/bin/cyclonedx-py environment --output-reproducible --output-file sbom.json .venv

# --- run: the virtualenv, its SBOM and the app, nothing else (no pipenv, no compilers) ---
FROM python:3.13-slim
# The base image's own Python keeps no installer either: pip, setuptools and wheel, their
# scripts and the wheels ensurepip would reinstall them from, found by name wherever the base
# image put them (`pip uninstall` would keep a distribution's copies: Debian's pip refuses to
# remove them). The base layer keeps their bytes: this hides them, the image is no smaller.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin total \
    && find / -xdev -regextype posix-extended \( -name '*.whl' -o -regex '.*/bin/(pip[0-9.]*|wheel)' \
        -o -regex '.*-packages/(pip|setuptools|pkg_resources|_distutils_hack|wheel)([-.][^/]*)?' \
        -o -path '*-packages/distutils-precedence.pth' \) -prune -exec rm -rf {} +
WORKDIR /srv
COPY --from=build /srv/.venv /srv/.venv
COPY --from=build /srv/sbom.json /srv/sbom.json
COPY app ./app
RUN python -m compileall -q --invalidation-mode unchecked-hash app
ENV PATH=/srv/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    LOG_FORMAT=json \
    PORT=5000 \
    WORKERS=1
USER 10001
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=2s --start-period=5s --retries=3 \
    CMD ["python", "-m", "app.healthcheck"]
# Exec form: the server (with WORKERS > 1, their supervisor) is PID 1 and receives SIGTERM itself.
CMD ["python", "-m", "app"]
