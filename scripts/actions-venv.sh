#!/usr/bin/env bash
# Create (idempotently) the separate virtualenv that runs a real rasa-sdk action server
# for the integration tests. rasa-sdk pulls in sanic/grpc/protobuf, which conflict with
# the application's own dependencies, so it never goes into .venv.
#
# Usage: bash scripts/actions-venv.sh        (from anywhere; the venv lives at <repo>/.venv-actions)
# Env:   PYTHON=python3.11  to choose the interpreter used to create the venv.
set -euo pipefail

RASA_SDK_VERSION="3.21.1"
# What the actions of Rasa's own projects import besides rasa-sdk (tests/compat): the templates'
# db helpers use Rasa's rasa.shared.utils.io (from the rasa-pro wheel, which needs portalocker,
# jsonschema and ruamel.yaml), pydantic, and telco's handoff action builds an openai client.
EXTRAS=(portalocker jsonschema ruamel.yaml pydantic openai)
EXTRA_MODULES="portalocker, jsonschema, ruamel.yaml, pydantic, openai"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-actions"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$RASA_SDK_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
import rasa_sdk  # noqa: F401
import portalocker, jsonschema, ruamel.yaml, pydantic, openai  # noqa: F401,E401
sys.exit(0 if version("rasa-sdk") == sys.argv[1] else 1)
PY
then
    echo "actions-venv: rasa-sdk ${RASA_SDK_VERSION} already installed in $VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "actions-venv: creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

echo "actions-venv: installing rasa-sdk==${RASA_SDK_VERSION}"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "rasa-sdk==${RASA_SDK_VERSION}" "${EXTRAS[@]}"
"$VENV/bin/python" -c "import rasa_sdk, sys, ${EXTRA_MODULES}; print('actions-venv: rasa-sdk', rasa_sdk.__version__, 'on Python', sys.version.split()[0])"
