"""rasa-sdk's action server in a single process: ``action_server_main.py <actions package> <port>``.

``python -m rasa_sdk`` starts Sanic workers with "spawn" and so pickles the action executor;
actions holding unpicklable state (the Rasa templates' handoff action keeps an
``openai.AsyncOpenAI`` client) then cannot start. Rasa itself runs these projects' actions
in-process (``actions_module``); this serves the same rasa-sdk app and executor from one process.
Run with the ``.venv-actions`` interpreter.
"""

import logging
import os
import sys

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor

logging.basicConfig(level=logging.INFO)
package, port = sys.argv[1], int(sys.argv[2])
executor = ActionExecutor()
executor.register_package(package)
app = create_app(executor)
app.run(host=os.environ.get("SANIC_HOST", "127.0.0.1"), port=port, single_process=True,
        access_log=False, motd=False)
