"""rasa-sdk's action server in a single process: ``action_server_main.py <actions package> <port>``.

``python -m rasa_sdk`` starts Sanic workers with "spawn" and so pickles the action executor;
actions holding unpicklable state (the Rasa templates' handoff action keeps an
``openai.AsyncOpenAI`` client) then cannot start. Rasa itself runs these projects' actions
in-process (``actions_module``); this serves the same rasa-sdk app and executor from one process.
Action modules that fail to import are skipped with a warning in the server's log.
Run with the ``.venv-actions`` interpreter.
"""

import importlib
import logging
import os
import pkgutil
import sys

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor

logging.basicConfig(level=logging.INFO)
package, port = sys.argv[1], int(sys.argv[2])
executor = ActionExecutor()
# module by module: an action module that cannot be imported here (rasa-calm-demo's date parsing
# needs Rasa's Duckling extractor and a Duckling server) is reported and skipped, not fatal
for module in pkgutil.iter_modules(importlib.import_module(package).__path__, package + "."):
    try:
        importlib.import_module(module.name)
    except Exception as exc:  # noqa: BLE001 - report any import failure and go on
        logging.warning("compat: skipping action module %s: %s: %s", module.name, type(exc).__name__, exc)
        continue
    executor.register_package(module.name)
app = create_app(executor)
app.run(host=os.environ.get("SANIC_HOST", "127.0.0.1"), port=port, single_process=True,
        access_log=False, motd=False)
